-- wrk script: citizens' reports at random places in the demo city's grid. With CLASSIFY=1 the
-- reports carry no domain, so every enabled plugin classifies the text first.
local texts = {
  "小区楼顶有人违章搭建了一层彩钢板房",
  "工地晚上无证施工，还在浇筑混凝土",
  "有渣土车在河边偷倒建筑垃圾",
  "装修把承重墙砸了，楼上都裂了",
}
local categories = { "illegal-construction", "construction-site", "construction-waste", "renovation-structure" }
local classify = os.getenv("CLASSIFY") == "1"
math.randomseed(os.time())

request = function()
  local i = math.random(#texts)
  local lat = 30.24 + math.random() * 0.04
  local lon = 120.13 + math.random() * 0.05
  local domain = ""
  if not classify then
    domain = string.format('"domain": "housing", "category": "%s", ', categories[i])
  end
  local body = string.format('{%s"description": "%s", "location": {"lat": %.6f, "lon": %.6f}}', domain, texts[i], lat, lon)
  return wrk.format("POST", "/api/v1/reports", { ["Content-Type"] = "application/json" }, body)
end

done = function(summary, latency, requests)
  io.write(string.format("requests %d, errors non-2xx %d, rate %.0f/s, p50 %.1f ms, p99 %.1f ms\n",
    summary.requests, summary.errors.status, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
