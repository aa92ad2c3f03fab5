--
-- dedupe: canonical JSON and dedupe keys against the JavaScript test vectors
-- (README "Dedupe keys").  The vectors are read raw, one JSON document per line.
--
\set ECHO none
\i test/regress/helpers.sql
\set ECHO all

CREATE TEMP TABLE vector_lines(line text);
\copy vector_lines FROM 'test/vectors/dedupe_keys.jsonl' WITH (FORMAT csv, QUOTE E'\x01', DELIMITER E'\x02')
CREATE TEMP TABLE vectors AS
SELECT v->>'name' AS name, v->>'workflowId' AS wf, v->>'runId' AS run,
       v->>'stepId' AS step, (v->>'command_json')::jsonb AS command,
       v->>'canonical' AS canonical, v->>'dedupe_key' AS dedupe_key
FROM (SELECT line::jsonb AS v FROM vector_lines) s;

SELECT count(*) AS vectors FROM vectors;

-- Every vector: the canonical text of the key object, and the key itself.
SELECT name,
       verist_canonical_json(jsonb_build_object('workflowId', wf, 'runId', run,
                                                'stepId', step, 'command', command))
           = canonical AS canonical_ok,
       verist_dedupe_key(wf, run, step, command) = dedupe_key AS key_ok
FROM vectors ORDER BY name;

-- The key is the SHA-256 of the canonical text (pgcrypto-free check).
SELECT bool_and(verist_dedupe_key(wf, run, step, command) =
                encode(sha256(convert_to(canonical, 'UTF8')), 'hex')) AS sha256_of_canonical
FROM vectors;

-- Show the canonical forms that the rules of README "Dedupe keys" produce.
SELECT input, verist_canonical_json(input::jsonb) AS canonical FROM (VALUES
    ('{"b": 1, "a": {"d": [3, {"z": 1, "y": 2}], "c": null}}'),
    ('{"b": 1, "10": 2, "9": 3, "a": 4, "01": 5, "4294967294": 6, "4294967295": 7, "-1": 8}'),
    ('[1.0, 1e2, 1e21, 1e-7, 0.000001, -0, 0.1, 123456789012345678901, 1.5e300, -2.5e-300]'),
    ('[9007199254740993, 0.30000000000000004, 100, 1e20, 123e-20, 5e-324]'),
    -- shortest digits on a rounding boundary: JavaScript prints 1e+23, not 9.999999999999999e+22
    ('[1e23, 23021599592181310, 9.5e-7, 1.7976931348623157e308]'),
    ('["quote \" backslash \\ tab \t newline \n cr \r bs \b ff \f", "\u0001\u001f", "é😀\u007f"]'),
    ('{"～": 1, "😀": 2, "é": 3, "Z": 4, "a": 5}'),
    ('"scalar"'), ('42'), ('true'), ('null'), ('{}'), ('[]'),
    ('{"a": 1, "a": 2}')
) AS t(input);

-- Numbers JavaScript cannot hold: a clear serialization_error, not Infinity.
SELECT verist_try($$SELECT verist_canonical_json('[1e400]')$$) AS too_big,
       verist_try($$SELECT verist_canonical_json('{"x": -1e309}')$$) AS too_small,
       verist_canonical_json('1e-400') AS underflows_to_zero;

-- The key object's keys need no escaping help: ids with quotes, slashes,
-- control characters and non-ASCII text hash like JavaScript's.
SELECT verist_canonical_json(jsonb_build_object('workflowId', E'w\\"\n', 'runId', 'r',
                                                'stepId', 's', 'command', '{}'::jsonb));
SELECT verist_dedupe_key(E'w\\"\n', 'r', 's', '{}') =
       encode(sha256(convert_to(verist_canonical_json(jsonb_build_object(
           'workflowId', E'w\\"\n', 'runId', 'r', 'stepId', 's', 'command', '{}'::jsonb)),
           'UTF8')), 'hex') AS escaped_ids_ok;

-- Any JSON command can be keyed: the key does not check command shapes.
SELECT length(verist_dedupe_key('w', 'r', 's', '"just a string"')) AS key_length;

-- Required arguments: NULL is a serialization_error, not a NULL key.
SELECT verist_try($$SELECT verist_canonical_json(NULL)$$) AS null_value;
SELECT verist_try($$SELECT verist_dedupe_key(NULL, 'r', 's', '{}')$$) AS null_workflow,
       verist_try($$SELECT verist_dedupe_key('w', NULL, 's', '{}')$$) AS null_run;
SELECT verist_try($$SELECT verist_dedupe_key('w', 'r', NULL, '{}')$$) AS null_step,
       verist_try($$SELECT verist_dedupe_key('w', 'r', 's', NULL)$$) AS null_command;
