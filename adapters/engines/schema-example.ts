// The mocks' schema example lives in runtime/ (the one layer the in-process mock and the
// mock-server program may both import); re-exported here for the engine adapters.

export { schemaExample } from "../../runtime/index.ts";
