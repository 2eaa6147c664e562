-- wrk script for the body-filter configs: every request is a POST of the same 1 KiB JSON
-- document (bench/configs/filters-json.yaml and filters-xml.yaml); the report of
-- wrk-report.lua is reused.
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(here .. "wrk-report.lua")

local items = {}
for i = 1, 12 do
  items[#items + 1] = string.format(
    '{"sku":"SKU-%04d","name":"item number %d","qty":%d,"price":%d.99,"tags":["a","b"]}', i, i, i,
    i * 3)
end
local doc = '{"name":"Ada Lovelace","password":"s3cret","email":"ada@example.test",' ..
  '"meta":{"client":"bench"},"items":[' .. table.concat(items, ",") .. ']}'

wrk.method = "POST"
wrk.body = doc
wrk.headers["Content-Type"] = "application/json"
