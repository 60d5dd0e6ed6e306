// Every route module of the control plane's API besides tasks and meta (registered by
// createControlApp itself), in one list: the server and the OpenAPI coverage test use the same.

import type { Hono } from "hono";
import type { ArtifactsPort, CatalogPort, ControlPort, EmbeddingsPort, NodesPort, PoolsPort, SessionsPort } from "../../../contract/index.ts";
import { registerOpenAiRoutes } from "../openai/routes.ts";
import { registerOpenAiExtraRoutes } from "../openai/extra-routes.ts";
import { registerArtifactRoutes } from "./artifacts.ts";
import { registerCatalogRoutes } from "./catalog.ts";
import { registerNodeRoutes } from "./nodes.ts";
import { registerPoolRoutes } from "./pools.ts";
import { registerSessionRoutes } from "./sessions.ts";

export interface AreaPorts {
  nodes: NodesPort;
  sessions: SessionsPort;
  catalog: CatalogPort;
  artifacts: ArtifactsPort;
  pools: PoolsPort;
  /** The task port, for the OpenAI-compatible routes (/v1), which list models from nodes and catalog. */
  port: ControlPort;
  /** POST /v1/embeddings. */
  embeddings: EmbeddingsPort;
}

export function areaRoutes(ports: AreaPorts): ((app: Hono<any>) => void)[] {
  return [
    (app) => registerNodeRoutes(app, ports.nodes),
    (app) => registerSessionRoutes(app, ports.sessions),
    (app) => registerCatalogRoutes(app, ports.catalog),
    (app) => registerArtifactRoutes(app, ports.artifacts),
    (app) => registerPoolRoutes(app, ports.pools),
    (app) => registerOpenAiRoutes(app, { port: ports.port, catalog: ports.catalog }),
    (app) => registerOpenAiExtraRoutes(app, { port: ports.port, catalog: ports.catalog, embeddings: ports.embeddings }),
  ];
}
