// Envelopes: the only thing that crosses a process boundary. zod checks them once, on receipt.

import { z } from "zod";

export const ENVELOPE_VERSION = 1;

export const EnvelopeSchema = z.object({
  v: z.literal(ENVELOPE_VERSION),
  id: z.string().min(1),
  /** Actor path on the receiving side. */
  to: z.string().min(1),
  /** Actor path on the sending side, when the sender is an actor. */
  from: z.string().optional(),
  /** Message type, or "$reply" for the answer to an ask. */
  type: z.string().min(1),
  /** For "$reply": the id of the ask being answered. For an ask: absent (the envelope id is used). */
  replyTo: z.string().optional(),
  /** Set on asks: absolute deadline in ms since the epoch; the receiver skips work past it. */
  deadline: z.number().optional(),
  ask: z.boolean().optional(),
  payload: z.unknown(),
});

export type Envelope = z.infer<typeof EnvelopeSchema>;

export const ReplyPayloadSchema = z.union([
  z.object({ ok: z.literal(true), value: z.unknown() }),
  z.object({ ok: z.literal(false), error: z.object({ code: z.string(), message: z.string() }) }),
]);

export type ReplyPayload = z.infer<typeof ReplyPayloadSchema>;

export function parseEnvelope(text: string): { ok: true; envelope: Envelope } | { ok: false; error: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, error: "envelope is not valid JSON" };
  }
  return parseEnvelopeValue(raw);
}

/** Checks an already-parsed value (one element of a batch frame). */
export function parseEnvelopeValue(raw: unknown): { ok: true; envelope: Envelope } | { ok: false; error: string } {
  const parsed = EnvelopeSchema.safeParse(raw);
  if (!parsed.success) return { ok: false, error: `invalid envelope: ${parsed.error.issues[0]?.message ?? "unknown"}` };
  return { ok: true, envelope: parsed.data };
}
