-- Argo CD health check for preview.midori.dev/PreviewSandbox (Lua 5.1 as in Argo CD; `obj` is the live object).
-- Healthy: Ready=True and the operator has seen the latest generation. Progressing: not yet observed, pending,
-- creating, recreating or retrying. Suspended: stopped by spec.suspend, or expired (idle/TTL) and kept until new
-- activity wakes it. Degraded: the operator gave up (phase Failed / Stalled=True) or reports a problem it is not retrying.
local hs = {}

local function condition(conditionType)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == conditionType then
      return c
    end
  end
  return nil
end

local function isTrue(conditionType)
  local c = condition(conditionType)
  return c ~= nil and c.status == "True"
end

local function messageOf(conditionType, fallback)
  local c = condition(conditionType)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return fallback
end

if obj.status == nil or obj.status.phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to pick up the PreviewSandbox"
  return hs
end

local phase = obj.status.phase
local generation = obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation) .. " (phase " .. phase .. ")"
  return hs
end

if phase == "Failed" or isTrue("Stalled") then
  hs.status = "Degraded"
  hs.message = messageOf("Ready", "The operator gave up on this preview")
  return hs
end

if phase == "Stopped" then
  hs.status = "Suspended"
  hs.message = messageOf("Ready", "Stopped by spec.suspend")
  return hs
end

if phase == "Expired" then
  hs.status = "Suspended"
  hs.message = messageOf("Ready", "Expired") .. "; new activity (a heartbeat) wakes it"
  return hs
end

if phase == "Running" and isTrue("Ready") then
  hs.status = "Healthy"
  if obj.status.previewUrl ~= nil then
    hs.message = "Serving at " .. obj.status.previewUrl
  else
    hs.message = messageOf("Ready", "Ready")
  end
  return hs
end

if isTrue("Degraded") and not isTrue("Progressing") and not isTrue("Reconciling") then
  hs.status = "Degraded"
  hs.message = messageOf("Degraded", "Degraded")
  return hs
end

hs.status = "Progressing"
hs.message = messageOf("Ready", "Phase " .. phase)
return hs
