// Checks an event's inclusion proof in the browser, trusting nothing but the verifier key:
// - the leaf is the RFC 8785 (JCS) canonical JSON of the event as GET /v1/events/<id>
//   returns it, hashed as RFC 9162 leaves are: SHA-256(0x00 || leaf);
// - the inclusion path is folded up to a root by RFC 9162 section 2.1.3.2;
// - the checkpoint is a C2SP tlog-checkpoint in a C2SP signed note, signed with Ed25519
//   by the key whose verifier key (<name>+<hex key id>+<base64(0x01 || public key)>) we hold.
// WebCrypto does the hashing and the signature check; canonicalize.js (vendored) the JCS.

import canonicalize from './vendor/canonicalize.js';

const utf8 = new TextEncoder();
const ED25519 = 0x01; // the note signature algorithm byte of Ed25519

/** Why a proof did not verify, in words a person can act on. */
export class ProofError extends Error {}

export function cryptoAvailable() {
  return Boolean(globalThis.crypto?.subtle) && window.isSecureContext;
}

function fromBase64(text, what) {
  try {
    // standard base64 as the formats say; the URL-safe alphabet is read too
    const standard = String(text).replace(/-/g, '+').replace(/_/g, '/');
    const binary = atob(standard + '='.repeat((4 - (standard.length % 4)) % 4));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  } catch {
    throw new ProofError(`${what} is not base64`);
  }
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function equal(a, b) {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}

/** RFC 9162 leaf hash of an event: SHA-256(0x00 || JCS(event)). */
export async function leafHash(event) {
  return sha256(concat(Uint8Array.of(0), utf8.encode(canonicalize(event))));
}

async function nodeHash(left, right) {
  return sha256(concat(Uint8Array.of(1), left, right));
}

/** The root an inclusion path leads to (RFC 9162 2.1.3.2); throws ProofError if malformed. */
export async function rootFromInclusion(leafIndex, treeSize, leaf, path) {
  if (!Number.isSafeInteger(leafIndex) || !Number.isSafeInteger(treeSize) || leafIndex < 0) {
    throw new ProofError('the proof has no valid leaf index or tree size');
  }
  if (leafIndex >= treeSize) throw new ProofError('the leaf index is beyond the tree');
  // plain arithmetic, not bit operators: those truncate to 32 bits
  let fn = leafIndex;
  let sn = treeSize - 1;
  let r = leaf;
  for (const p of path) {
    if (sn === 0) throw new ProofError('the inclusion path is too long');
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new ProofError('the inclusion path is too short');
  return r;
}

/** A verifier key: {name, keyId (4 bytes), publicKey (32 bytes)}; checks its key id. */
export async function parseVerifierKey(text) {
  // the name has no '+', the key's base64 may: split at the first two only
  const match = /^([^+\s]+)\+([0-9a-f]{8})\+(\S+)$/.exec(text.trim());
  if (!match) throw new ProofError('the verifier key is not <name>+<key id>+<key>');
  const [, name, hexId, encoded] = match;
  const raw = fromBase64(encoded, 'the verifier key');
  if (raw.length !== 33 || raw[0] !== ED25519) {
    throw new ProofError('the verifier key is not an Ed25519 note key');
  }
  const keyId = Uint8Array.from(hexId.match(/../g), (h) => parseInt(h, 16));
  const expected = (await sha256(concat(utf8.encode(name), Uint8Array.of(0x0a), raw))).slice(0, 4);
  if (!equal(keyId, expected)) throw new ProofError("the verifier key's id does not match it");
  return { name, keyId, publicKey: raw.slice(1) };
}

/** A C2SP signed note: {text (the signed bytes), signatures: [{name, bytes}]}. */
export function parseNote(note) {
  const split = note.lastIndexOf('\n\n');
  if (split < 0 || !note.endsWith('\n')) throw new ProofError('the checkpoint is not a signed note');
  const signatures = [];
  for (const line of note.slice(split + 2, -1).split('\n')) {
    const match = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!match) throw new ProofError('a checkpoint signature line is malformed');
    signatures.push({ name: match[1], bytes: fromBase64(match[2], 'a signature') });
  }
  return { text: note.slice(0, split + 1), signatures };
}

/** A C2SP tlog-checkpoint: the note plus its origin, tree size and root hash. */
export function parseCheckpoint(note) {
  const parsed = parseNote(note);
  const lines = parsed.text.slice(0, -1).split('\n');
  if (lines.length < 3) throw new ProofError('the checkpoint has no origin, size and root');
  const [origin, sizeText, rootText] = lines;
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText)) throw new ProofError('the checkpoint size is not a number');
  return { ...parsed, origin, size: Number(sizeText), root: fromBase64(rootText, 'the checkpoint root') };
}

async function signatureValid(checkpoint, key) {
  const publicKey = await crypto.subtle.importKey('raw', key.publicKey, { name: 'Ed25519' }, false, [
    'verify',
  ]);
  for (const signature of checkpoint.signatures) {
    if (signature.name !== key.name || signature.bytes.length !== 68) continue;
    if (!equal(signature.bytes.slice(0, 4), key.keyId)) continue;
    const valid = await crypto.subtle.verify(
      { name: 'Ed25519' },
      publicKey,
      signature.bytes.slice(4),
      utf8.encode(checkpoint.text),
    );
    if (valid) return true;
  }
  return false;
}

/**
 * Verify that `event` (as GET /v1/events/<id> returned it) is in the tenant's log.
 * `proof` is GET /v1/events/<id>/proof's body, `verifierKey` the verifier key's text.
 * Resolves to {leafIndex, treeSize, origin, keyName}; rejects with ProofError.
 */
export async function verifyInclusion(event, proof, verifierKey, tenant) {
  const key = await parseVerifierKey(verifierKey);
  if (proof.id !== event.id) throw new ProofError('the proof is for another event');
  if (proof.leaf_index !== event.seq - 1) {
    throw new ProofError(`the proof is for leaf ${proof.leaf_index}, the event has seq ${event.seq}`);
  }
  const leaf = await leafHash(event);
  if (proof.leaf_hash !== undefined && !equal(leaf, fromBase64(proof.leaf_hash, 'the leaf hash'))) {
    throw new ProofError('the event differs from the logged leaf (its bytes were changed)');
  }
  const path = (proof.inclusion || []).map((h) => fromBase64(h, 'an inclusion hash'));
  const root = await rootFromInclusion(proof.leaf_index, proof.tree_size, leaf, path);
  const checkpoint = parseCheckpoint(proof.checkpoint || '');
  if (!checkpoint.origin.endsWith(`/${tenant}`)) {
    throw new ProofError(`the checkpoint is for ${checkpoint.origin}, not tenant ${tenant}`);
  }
  if (checkpoint.size !== proof.tree_size) {
    throw new ProofError('the checkpoint is for another tree size than the proof');
  }
  if (!equal(checkpoint.root, root)) {
    throw new ProofError("the inclusion path does not lead to the checkpoint's root");
  }
  if (!(await signatureValid(checkpoint, key))) {
    throw new ProofError(`the checkpoint has no valid signature by ${key.name}`);
  }
  return { leafIndex: proof.leaf_index, treeSize: proof.tree_size, origin: checkpoint.origin, keyName: key.name };
}
