// The contract between the parts of llama-orch: what clients send and receive (tasks, pools, nodes,
// catalog, artifacts, sessions, meta), the error envelope and its codes, what an engine is asked
// and answers, the node link's messages, and the ports through which the client APIs reach the
// control plane. actors/ and adapters/ both import it; it imports only runtime/ types.
// docs/contract.md explains each part and why it is so.

export * from "./errors.ts";
export * from "./json.ts";
export * from "./ids.ts";
export * from "./task.ts";
export * from "./chat.ts";
export * from "./pool.ts";
export * from "./node.ts";
export * from "./meta.ts";
export * from "./catalog.ts";
export * from "./artifacts.ts";
export * from "./sessions.ts";
export * from "./control.ts";
export * from "./engine.ts";
export * from "./embeddings.ts";
