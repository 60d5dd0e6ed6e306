// Node credentials apart from client credentials: which routes are the nodes', and who may call them.

import { expect, test } from "bun:test";
import { authorizeNode, isNodeRoute, nodeAuthFor } from "./node-auth.ts";

const NODE = "node-token-0123456789abcdef";
const API = "api-token-0123456789abcdef";
const bearer = (t: string) => `Bearer ${t}`;

test("the node routes: the link upgrade and the REST membership routes, nothing else", () => {
  expect(isNodeRoute("GET", "/v2/nodes/link")).toBe(true);
  expect(isNodeRoute("POST", "/v2/nodes/register")).toBe(true);
  expect(isNodeRoute("POST", "/v2/nodes/n1/heartbeat")).toBe(true);
  expect(isNodeRoute("DELETE", "/v2/nodes/n1")).toBe(true);
  for (const [m, p] of [["GET", "/v2/nodes"], ["GET", "/v2/nodes/n1"], ["DELETE", "/v2/nodes/link"], ["POST", "/v2/tasks"], ["POST", "/v2/nodes/a/b/heartbeat"]]) {
    expect([m, p, isNodeRoute(m!, p!)]).toEqual([m, p, false]);
  }
});

test("with a node token, node routes take only it and client routes refuse it; without one, nothing changes", () => {
  expect(nodeAuthFor("POST", "/v2/nodes/register", bearer(NODE), NODE)).toMatchObject({ ok: true, identity: expect.stringMatching(/^node:[0-9a-f]{6}$/) });
  expect(nodeAuthFor("POST", "/v2/nodes/register", bearer(API), NODE)).toMatchObject({ ok: false, code: "BAD_TOKEN" });
  expect(nodeAuthFor("POST", "/v2/nodes/register", undefined, NODE)).toMatchObject({ ok: false, code: "MISSING_TOKEN" });
  expect(nodeAuthFor("POST", "/v2/tasks", bearer(NODE), NODE)).toMatchObject({ ok: false, code: "BAD_TOKEN" });
  expect(nodeAuthFor("POST", "/v2/tasks", bearer(API), NODE)).toBeUndefined();
  expect(nodeAuthFor("POST", "/v2/nodes/register", bearer(API), undefined)).toBeUndefined();
  // The link without a node token: the shared token, as before.
  expect(authorizeNode(bearer(API), { apiToken: API })).toMatchObject({ ok: true });
  expect(authorizeNode(bearer(API), { apiToken: API, nodeToken: NODE })).toMatchObject({ ok: false, code: "BAD_TOKEN" });
  expect(authorizeNode(undefined, {})).toMatchObject({ ok: true });
  // No token ever shows in an identity.
  expect(JSON.stringify(nodeAuthFor("POST", "/v2/tasks", bearer(NODE), NODE))).not.toContain(NODE);
});
