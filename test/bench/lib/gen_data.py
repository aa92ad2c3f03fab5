#!/usr/bin/env python3
"""Write the benchmark's data: one step's output, events and commands, as JSON.

Every variant sends exactly these texts (verist as whole arrays, the client
pattern and the floor field by field), so all of them store the same rows.
Also writes the 1 KB and 100 KB commands of the dedupe-key benchmark.

    gen_data.py OUTDIR
"""
import hashlib
import json
import os
import sys

out = sys.argv[1]
os.makedirs(out, exist_ok=True)


def dump(v):
    # what a JavaScript client sends: JSON.stringify, no whitespace
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def h(s):
    return "sha256:" + hashlib.sha256(s.encode()).hexdigest()


document = ("INVOICE INV-2024-000123  Acme Widgets GmbH, Industriestr. 12, 70565 Stuttgart. "
            "Bill to: Example Corp, Accounts Payable. 3 x Widget Pro (EUR 299.50), "
            "1 x Installation (EUR 350.00). Subtotal EUR 1249.50, VAT 0% (reverse charge), "
            "Total EUR 1249.50. Payment due 31 July 2024. IBAN DE89 3704 0044 0532 0130 00.")
extracted = {"vendor": "Acme Widgets GmbH", "invoiceNumber": "INV-2024-000123",
             "total": 1249.5, "currency": "EUR", "dueDate": "2024-07-31", "lineItems": 3}

output = {
    "classification": {"label": "invoice", "confidence": 0.9731,
                       "alternatives": [{"label": "receipt", "confidence": 0.0214},
                                        {"label": "contract", "confidence": 0.0055}]},
    "extracted": extracted,
    "summary": "Invoice from Acme Widgets GmbH for 3 items, total EUR 1249.50, due 31 July 2024.",
    "needsReview": False,
}

events = [
    {"type": "step.started",
     "payload": {"attempt": 1, "input": {"documentId": "doc-7f3a9c", "pages": 2}}},
    {"type": "llm.completed",
     "payload": {"purpose": "extract-invoice-fields"},
     "llmTrace": {
         "model": "gpt-4o-mini-2024-07-18",
         "inputHash": h(document), "outputHash": h(dump(extracted)),
         "promptTokens": 1834, "completionTokens": 212, "durationMs": 2381.7,
         "temperature": 0,
         "input": {"messages": [
             {"role": "system", "content": "You extract invoice fields as JSON: vendor, "
                                           "invoiceNumber, total, currency, dueDate, lineItems."},
             {"role": "user", "content": document}]},
         "output": {"content": dump(extracted), "finishReason": "stop"}}},
    {"type": "step.completed",
     "payload": {"durationMs": 2412,
                 "outputKeys": ["classification", "extracted", "summary", "needsReview"]}},
]

commands = [
    {"type": "invoke", "step": "validate-totals",
     "input": {"documentId": "doc-7f3a9c", "total": 1249.5, "currency": "EUR"}},
    {"type": "invoke", "step": "notify-accounting",
     "input": {"channel": "email", "to": "ap@example.com",
               "subject": "Invoice INV-2024-000123 ready for approval"}},
]


def big_command(target):
    """An invoke command whose JSON text is about target bytes: nested objects
    with unsorted keys, numbers (integers, decimals, exponents), escapes."""
    items = []
    cmd = {"type": "invoke", "step": "ingest-batch", "input": {"batch": "b-42", "items": items}}
    i = 0
    while len(dump(cmd)) < target:
        items.append({"sku": "SKU-%05d" % i, "qty": i % 7 + 1, "price": round(9.99 + i * 0.37, 2),
                      "weightKg": 1.5e-3 * (i + 1), "tags": ["a", "b\t%d" % i],
                      "meta": {"zeta": i, "alpha": "line \"%d\"\n" % i, "10": True, "2": None}})
        i += 1
    items.pop()
    while len(dump(cmd)) < target:
        cmd["input"]["batch"] += "x"
    return cmd


files = {
    "output": output,
    "events": events,
    "commands": commands,
    "e1type": events[0]["type"], "e1payload": events[0]["payload"],
    "e2type": events[1]["type"], "e2payload": events[1]["payload"], "e2trace": events[1]["llmTrace"],
    "e3type": events[2]["type"], "e3payload": events[2]["payload"],
    "cmd1": commands[0], "cmd2": commands[1],
    "cmd_1k": big_command(1024), "cmd_100k": big_command(100 * 1024),
}
for name, value in files.items():
    text = value if isinstance(value, str) else dump(value)
    with open(os.path.join(out, name + ".json"), "w") as f:
        f.write(text)
