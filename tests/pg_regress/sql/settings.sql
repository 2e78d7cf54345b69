-- The pseudo_ext.* prefix is reserved once the library is loaded: a misspelt
-- setting is an error (42602), not a silent placeholder that leaves the real
-- setting at its default.
LOAD 'pseudo_ext';
SET pseudo_ext.root_key_fle = 'typo.key';
SHOW pseudo_ext.root_key_fle;
SELECT count(*) AS typo_placeholders FROM pg_settings WHERE name = 'pseudo_ext.root_key_fle';
-- the real settings are there
SELECT name, setting, unit, context FROM pg_settings WHERE name LIKE 'pseudo_ext.%' ORDER BY name;
