// Verifies, in the browser and with WebCrypto only, what the audit log serves: an entry's inclusion in
// the signed tree (RFC 9162: leaf = SHA-256(0x00 || bytes), node = SHA-256(0x01 || left || right)) and
// the checkpoint's Ed25519 signature (C2SP signed note). Nothing the console computed is trusted.
"use strict";

(function () {
  const data = JSON.parse(document.getElementById("proof-data").textContent);
  const box = document.getElementById("proof");
  const steps = document.getElementById("proof-steps");
  const summary = document.getElementById("proof-summary");
  const enc = new TextEncoder();

  const hex = (bytes) => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
  const unhex = (text) => new Uint8Array(text.match(/../g).map((h) => parseInt(h, 16)));
  const unb64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  const concat = (...parts) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  };
  const sha256 = async (bytes) => new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  const step = (ok, text) => {
    const li = document.createElement("li");
    li.className = ok ? "ok" : "bad";
    li.textContent = (ok ? "✓ " : "✗ ") + text;
    steps.appendChild(li);
    return ok;
  };

  // RFC 9162 §2.1.3.2: the root from a leaf hash and its audit path.
  async function rootFromPath(index, size, leaf, path) {
    if (index >= size) throw new Error("index beyond the tree");
    let fn = index, sn = size - 1, r = leaf;
    for (const p of path) {
      if (sn === 0) throw new Error("audit path too long");
      if ((fn & 1) === 1 || fn === sn) {
        r = await sha256(concat(Uint8Array.of(1), p, r));
        if ((fn & 1) === 0) { while (!((fn & 1) === 1 || fn === 0)) { fn >>= 1; sn >>= 1; } }
      } else {
        r = await sha256(concat(Uint8Array.of(1), r, p));
      }
      fn >>= 1; sn >>= 1;
    }
    if (sn !== 0) throw new Error("audit path too short");
    return r;
  }

  // C2SP signed note: "body\n\n— <name> base64(keyid(4) || signature(64))"; vkey "<name>+<keyid hex>+base64(0x01 || key)".
  async function checkSignature(note, vkey) {
    // Split at the first two '+' only: the base64 key material may itself hold a '+'.
    const first = vkey.indexOf("+"), second = vkey.indexOf("+", first + 1);
    const name = vkey.slice(0, first), keyIdHex = vkey.slice(first + 1, second), keyB64 = vkey.slice(second + 1).trim();
    const raw = unb64(keyB64);
    if (raw[0] !== 1 || raw.length !== 33) return step(false, "the verifier key is not an Ed25519 key");
    const keyId = (await sha256(concat(enc.encode(name), Uint8Array.of(10), raw))).slice(0, 4);
    if (hex(keyId) !== keyIdHex) return step(false, "the verifier key's id does not match its key");
    const cut = note.indexOf("\n\n");
    const body = note.slice(0, cut + 1);
    const line = note.slice(cut + 2).split("\n").find((l) => l.startsWith("\u2014 " + name + " "));
    if (!line) return step(false, "no signature by " + name + " on the checkpoint");
    const sig = unb64(line.split(" ").pop());
    if (hex(sig.slice(0, 4)) !== keyIdHex) return step(false, "the signature names another key");
    let key;
    try {
      key = await crypto.subtle.importKey("raw", raw.slice(1), { name: "Ed25519" }, false, ["verify"]);
    } catch (e) {
      return step(false, "this browser cannot check Ed25519 signatures (WebCrypto); use vigie-verify");
    }
    const ok = await crypto.subtle.verify({ name: "Ed25519" }, key, sig.slice(4), enc.encode(body));
    return step(ok, ok ? "the checkpoint's Ed25519 signature verifies with " + name + "'s key"
                       : "the checkpoint's signature does NOT verify");
  }

  function checkpointRoot(note) {
    const lines = note.split("\n");
    return { size: parseInt(lines[1], 10), root: unb64(lines[2]) };
  }

  async function verifyEntry() {
    const canonical = unb64(data.canonical);
    const leaf = await sha256(concat(Uint8Array.of(0), canonical));
    const leafOk = step(hex(leaf) === data.leaf_hash,
      "leaf hash recomputed from the " + canonical.length + " canonical bytes: " + hex(leaf).slice(0, 16) + "…");
    const cp = checkpointRoot(data.note);
    const root = await rootFromPath(data.index, cp.size, leaf, data.audit_path.map(unhex));
    const rootOk = step(hex(root) === hex(cp.root),
      "root recomputed from the audit path (" + data.audit_path.length + " hashes): " + hex(root));
    const sigOk = await checkSignature(data.note, data.vkey);
    const ok = leafOk && rootOk && sigOk;
    summary.textContent = ok
      ? "Verified in this browser: entry " + data.index + " is in the tree of size " + cp.size + " whose root the log signed."
      : "NOT verified: see the failed step below.";
    box.dataset.verified = ok ? "true" : "false";
    box.dataset.root = hex(root);
  }

  async function verifyCheckpoint() {
    const ok = await checkSignature(data.note, data.vkey);
    summary.textContent = ok ? "Signature verified in this browser." : "Signature NOT verified.";
    box.dataset.verified = ok ? "true" : "false";
  }

  if (!(window.crypto && crypto.subtle)) {
    step(false, "WebCrypto is unavailable: the console must be served over HTTPS (or on localhost)");
    summary.textContent = "NOT verified in this browser; use vigie-verify.";
    box.dataset.verified = "false";
    return;
  }
  const run = data.canonical !== undefined ? (data.audit_path ? verifyEntry : null) : verifyCheckpoint;
  if (run) {
    run().catch((e) => {
      step(false, "verification failed: " + e.message);
      summary.textContent = "NOT verified.";
      box.dataset.verified = "false";
    });
  }
})();
