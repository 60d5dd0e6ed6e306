// Ids a client or node chooses (task, session, node, pool) and other peer text that ends up in
// logs, metrics, headers and URLs. An id is 1..128 characters of a safe alphabet, so none carries
// NUL, CR/LF, spaces, `/` (ids sit in URL paths) or lone surrogates. Model references are freer
// (they are paths and URLs: `hf:org/repo/file.gguf`) but still refuse control characters and
// lone surrogates.

import { z } from "zod";

export const MAX_ID_LENGTH = 128;
export const ID_RE = /^[A-Za-z0-9._:@-]{1,128}$/;
const ID_MESSAGE = "must be 1 to 128 characters of A-Z a-z 0-9 . _ : @ -";

/** A task, session, node or pool id. */
export const Id = z.string().regex(ID_RE, ID_MESSAGE);

// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

/** Text without control characters or lone surrogates, as model refs and paths are. */
export function isSafeText(text: string): boolean {
  return !CONTROL_RE.test(text) && text.isWellFormed();
}

/** 1..max characters of safe text (see isSafeText). */
export const safeText = (max: number) =>
  z.string().min(1).max(max).refine(isSafeText, "must not contain control characters or lone surrogates");
