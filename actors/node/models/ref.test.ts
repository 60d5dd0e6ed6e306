// Model ref parsing: every spelling of a local file, URLs, hf: refs with revisions, plain names,
// and the refusals an operator would hit (unsupported schemes, whole repositories, bad parts).

import { describe, expect, test } from "bun:test";
import { DEFAULT_HF_BASE_URL, hfUrl, ModelError, modelId, parseModelRef, type ModelRef } from "./ref.ts";

const opts = { baseDir: "/srv/models", homeDir: "/home/ops" };
const parse = (ref: string) => parseModelRef(ref, opts);

function refusal(ref: string): ModelError {
  try {
    parse(ref);
  } catch (error) {
    expect(error).toBeInstanceOf(ModelError);
    return error as ModelError;
  }
  throw new Error(`'${ref}' was accepted`);
}

describe("local files", () => {
  const cases: Array<[string, string]> = [
    ["file:///abs/tiny.gguf", "/abs/tiny.gguf"],
    ["file:///abs/with%20space.gguf", "/abs/with space.gguf"],
    ["file://localhost/abs/tiny.gguf", "/abs/tiny.gguf"],
    ["file:/abs/tiny.gguf", "/abs/tiny.gguf"],
    ["file:rel/tiny.gguf", "/srv/models/rel/tiny.gguf"],
    ["file:tiny", "/srv/models/tiny"],
    ["/abs/tiny.gguf", "/abs/tiny.gguf"],
    ["./rel/tiny.gguf", "/srv/models/rel/tiny.gguf"],
    ["../up/tiny.gguf", "/srv/up/tiny.gguf"],
    ["rel/x.gguf", "/srv/models/rel/x.gguf"],
    ["x.gguf", "/srv/models/x.gguf"],
    ["X.GGUF", "/srv/models/X.GGUF"],
    ["~/models/x.gguf", "/home/ops/models/x.gguf"],
    ["  ./padded.gguf  ", "/srv/models/padded.gguf"],
  ];
  for (const [ref, path] of cases) {
    test(ref, () => expect(parse(ref)).toEqual({ kind: "file", path }));
  }
  test("a file URL on another host is refused", () => {
    expect(refusal("file://server/share/x.gguf").code).toBe("INVALID_MODEL_REF");
  });
  test("file: alone names nothing", () => {
    expect(refusal("file:").code).toBe("INVALID_MODEL_REF");
  });
});

describe("remote files", () => {
  test("https and http URLs are kept as given (normalised)", () => {
    expect(parse("https://example.com/m/x.gguf?download=1")).toEqual({ kind: "https", url: "https://example.com/m/x.gguf?download=1" });
    expect(parse("HTTP://mirror.lan:8000/x.gguf")).toEqual({ kind: "https", url: "http://mirror.lan:8000/x.gguf" });
  });
  test("a URL without a host is refused", () => {
    expect(refusal("https://").code).toBe("INVALID_MODEL_REF");
  });

  const hf: Array<[string, ModelRef]> = [
    ["hf:TheBloke/Llama-2-7B-GGUF/llama-2-7b.Q4_K_M.gguf", { kind: "hf", org: "TheBloke", repo: "Llama-2-7B-GGUF", file: "llama-2-7b.Q4_K_M.gguf" }],
    ["hf:org/repo/sub/dir/file.gguf", { kind: "hf", org: "org", repo: "repo", file: "sub/dir/file.gguf" }],
    ["hf:org/repo@v1.2/file.gguf", { kind: "hf", org: "org", repo: "repo", file: "file.gguf", revision: "v1.2" }],
    ["hf:org/repo/file.gguf@0123abcd", { kind: "hf", org: "org", repo: "repo", file: "file.gguf", revision: "0123abcd" }],
    ["HF:org/repo/file.gguf", { kind: "hf", org: "org", repo: "repo", file: "file.gguf" }],
  ];
  for (const [ref, parsed] of hf) test(ref, () => expect(parse(ref)).toEqual(parsed));

  test("hf URLs point at resolve/<revision|main>/<file>, escaped", () => {
    expect(hfUrl({ kind: "hf", org: "org", repo: "repo", file: "sub/file.gguf" })).toBe(`${DEFAULT_HF_BASE_URL}/org/repo/resolve/main/sub/file.gguf`);
    expect(hfUrl({ kind: "hf", org: "org", repo: "repo", file: "a b.gguf", revision: "refs/pr/1" }, "http://127.0.0.1:9/")).toBe(
      "http://127.0.0.1:9/org/repo/resolve/refs%2Fpr%2F1/a%20b.gguf",
    );
  });

  test("a whole repository is refused as unsupported, naming the form that works", () => {
    const error = refusal("hf:org/repo");
    expect(error.code).toBe("UNSUPPORTED_MODEL_REF");
    expect(error.message).toContain("hf:org/repo/<file>.gguf");
  });
  for (const ref of ["hf:org", "hf:org/", "hf:/repo/x.gguf", "hf:org/repo/../x.gguf", "hf:org/repo//x.gguf", "hf:org/re po/x.gguf", "hf:org/repo@a/x.gguf@b", "hf:org/repo@/x.gguf"]) {
    test(`${ref} is refused`, () => expect(refusal(ref).code).toBe("INVALID_MODEL_REF"));
  }
});

describe("names and unsupported schemes", () => {
  test("a plain name is a name (the mock engines serve it)", () => {
    expect(parse("tiny")).toEqual({ kind: "name", name: "tiny" });
    expect(parse("llama3:8b")).toEqual({ kind: "name", name: "llama3:8b" });
  });
  for (const ref of ["s3://bucket/key.gguf", "oci://registry/repo:tag", "s3:bucket/key", "gguf:x.gguf", "ftp://host/x.gguf", "weird+scheme://x"]) {
    test(`${ref} is unsupported`, () => {
      const error = refusal(ref);
      expect(error.code).toBe("UNSUPPORTED_MODEL_REF");
      expect(error.message).toContain("unsupported");
    });
  }
  test("an empty ref is refused", () => expect(refusal("   ").code).toBe("INVALID_MODEL_REF"));
});

test("modelId is the ref exactly as configured", () => {
  for (const ref of ["tiny", "./rel/x.gguf", "hf:org/repo/x.gguf", "https://example.com/x.gguf"]) expect(modelId(ref)).toBe(ref);
});
