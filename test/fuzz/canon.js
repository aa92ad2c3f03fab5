// The JavaScript oracle for the fuzzer's canonical-JSON cross-check.
//
// Reads JSON lines {t: jsonText, w, r, s} on stdin and writes one JSON line
// per input: {c: canonicalText, k: dedupeKey} or {e: error}.  The canonical
// text is what the TypeScript adapter computes: JSON.parse, rebuild every
// object with its keys in Object.keys(o).sort() order, JSON.stringify; the
// dedupe key is SHA-256 of the canonical {workflowId, runId, stepId, command}.
'use strict';
const crypto = require('crypto');
const readline = require('readline');

function canon(v) {
    if (Array.isArray(v)) return v.map(canon);
    if (v !== null && typeof v === 'object') {
        const out = {};
        for (const k of Object.keys(v).sort()) out[k] = canon(v[k]);
        return out;
    }
    return v;
}

const lines = [];
const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', (line) => {
    const { t, w, r, s } = JSON.parse(line);
    try {
        const v = JSON.parse(t);
        const c = JSON.stringify(canon(v));
        const all = JSON.stringify(canon({ workflowId: w, runId: r, stepId: s, command: v }));
        const k = crypto.createHash('sha256').update(all, 'utf8').digest('hex');
        lines.push(JSON.stringify({ c, k }));
    } catch (e) {
        lines.push(JSON.stringify({ e: String(e.message).slice(0, 200) }));
    }
});
rl.on('close', () => {
    process.stdout.write(lines.join('\n') + (lines.length ? '\n' : ''));
});
