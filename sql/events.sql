--
-- events: stored in array order with the commit's step id; payload and
-- llmTrace rules of README "Shapes", hash-only traces.
--
\set ECHO none
\i test/regress/helpers.sql
\set ECHO all

SELECT version FROM verist_commit('e-wf', 'run-1', 'extract', 0, '{}',
    $$[{"type": "first", "payload": {"n": 1}},
       {"type": "second"},
       {"type": "third", "payload": null, "llmTrace": null},
       {"type": "fourth", "payload": {"nested": {"deep": [1, 2, 3]}}},
       {"type": "fifth", "payload": {}}]$$);
SELECT version FROM verist_commit('e-wf', 'run-1', 'verify', 1, '{}',
    '[{"type": "sixth"}, {"type": "seventh"}]');

-- Array order is id order; every event carries its commit's step id.
-- An absent or null payload is stored as SQL NULL.
SELECT row_number() OVER (ORDER BY id) AS n, step_id, type, payload, llm_trace IS NULL AS no_trace
FROM verist_events WHERE workflow_id = 'e-wf' AND run_id = 'run-1' ORDER BY id;

-- A full llmTrace is kept as given, other keys included.
SELECT version FROM verist_commit('e-wf', 'run-2', 'llm', 0, '{}',
    $$[{"type": "llm-call", "payload": {"claim": 1},
        "llmTrace": {"model": "gpt-x", "input": "prompt text", "output": "answer text",
                     "inputHash": "sha256:aa", "outputHash": "sha256:bb",
                     "promptTokens": 12, "completionTokens": 34, "durationMs": 56.5,
                     "temperature": 0.2, "provider": {"name": "acme"}}}]$$);
SELECT type, llm_trace FROM verist_events WHERE run_id = 'run-2' AND workflow_id = 'e-wf';

-- Hash-only mode: no input and output, hashes still there.  Integral numbers
-- written as 3.0 are integers, as they are in JavaScript; zero is allowed.
SELECT version FROM verist_commit('e-wf', 'run-3', 'llm', 0, '{}',
    $$[{"type": "llm-call",
        "llmTrace": {"model": "", "inputHash": "h1", "outputHash": "h2",
                     "promptTokens": 3.0, "completionTokens": 0, "durationMs": 0}}]$$);
SELECT llm_trace ? 'input' AS has_input, llm_trace ? 'output' AS has_output,
       llm_trace->>'inputHash' AS input_hash
FROM verist_events WHERE run_id = 'run-3' AND workflow_id = 'e-wf';

-- Every broken rule of an llmTrace is a serialization_error, and nothing of
-- the commit is written.
SELECT verist_fingerprint() AS before \gset
CREATE TEMP TABLE bad_traces(label text, trace text);
INSERT INTO bad_traces VALUES
  ('missing model',           '{"inputHash":"a","outputHash":"b","promptTokens":1,"completionTokens":1,"durationMs":1}'),
  ('model not a string',      '{"model":1,"inputHash":"a","outputHash":"b","promptTokens":1,"completionTokens":1,"durationMs":1}'),
  ('missing inputHash',       '{"model":"m","outputHash":"b","promptTokens":1,"completionTokens":1,"durationMs":1}'),
  ('empty inputHash',         '{"model":"m","inputHash":"","outputHash":"b","promptTokens":1,"completionTokens":1,"durationMs":1}'),
  ('null outputHash',         '{"model":"m","inputHash":"a","outputHash":null,"promptTokens":1,"completionTokens":1,"durationMs":1}'),
  ('numeric outputHash',      '{"model":"m","inputHash":"a","outputHash":7,"promptTokens":1,"completionTokens":1,"durationMs":1}'),
  ('missing promptTokens',    '{"model":"m","inputHash":"a","outputHash":"b","completionTokens":1,"durationMs":1}'),
  ('negative promptTokens',   '{"model":"m","inputHash":"a","outputHash":"b","promptTokens":-1,"completionTokens":1,"durationMs":1}'),
  ('fractional tokens',       '{"model":"m","inputHash":"a","outputHash":"b","promptTokens":1.5,"completionTokens":1,"durationMs":1}'),
  ('tokens as a string',      '{"model":"m","inputHash":"a","outputHash":"b","promptTokens":"3","completionTokens":1,"durationMs":1}'),
  ('missing completionTokens','{"model":"m","inputHash":"a","outputHash":"b","promptTokens":1,"durationMs":1}'),
  ('huge completionTokens',   '{"model":"m","inputHash":"a","outputHash":"b","promptTokens":1,"completionTokens":1e400,"durationMs":1}'),
  ('missing durationMs',      '{"model":"m","inputHash":"a","outputHash":"b","promptTokens":1,"completionTokens":1}'),
  ('negative durationMs',     '{"model":"m","inputHash":"a","outputHash":"b","promptTokens":1,"completionTokens":1,"durationMs":-0.5}'),
  ('durationMs as boolean',   '{"model":"m","inputHash":"a","outputHash":"b","promptTokens":1,"completionTokens":1,"durationMs":true}'),
  ('trace is an array',       '[]'),
  ('trace is a string',       '"trace"'),
  ('trace is a number',       '42');
SELECT label, verist_try(format(
    $$SELECT verist_commit('e-wf', 'run-bad', 's', 0, '{}', '[{"type":"t","llmTrace":%s}]')$$,
    trace)) AS result
FROM bad_traces ORDER BY label;

-- Events that are not of the shape README "Shapes" gives.
CREATE TEMP TABLE bad_events(label text, events text);
INSERT INTO bad_events VALUES
  ('event is a string',      '["started"]'),
  ('event is null',          '[null]'),
  ('event is an array',      '[["type"]]'),
  ('missing type',           '[{"payload":{}}]'),
  ('empty type',             '[{"type":""}]'),
  ('type is a number',       '[{"type":1}]'),
  ('type is null',           '[{"type":null}]'),
  ('unknown key',            '[{"type":"t","extra":1}]'),
  ('payload is an array',    '[{"type":"t","payload":[1]}]'),
  ('payload is a string',    '[{"type":"t","payload":"p"}]'),
  ('second event broken',    '[{"type":"ok"},{"type":"t","payload":5}]');
SELECT label, verist_try(format(
    $$SELECT verist_commit('e-wf', 'run-bad', 's', 0, '{}', %L)$$, events)) AS result
FROM bad_events ORDER BY label;

SELECT verist_fingerprint() = :'before' AS nothing_written;
SELECT count(*) AS runs FROM verist_load('e-wf', 'run-bad');
