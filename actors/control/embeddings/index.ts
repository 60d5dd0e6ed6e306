export { createEmbeddingsPort, EMBEDDINGS_DEFAULTS, type EmbeddingsPortOptions } from "./embeddings-port.ts";
