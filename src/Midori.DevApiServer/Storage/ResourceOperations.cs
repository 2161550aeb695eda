using System.Text.Json;
using System.Text.Json.Nodes;
using Midori.DevApiServer.Patching;
using Midori.DevApiServer.Schema;

namespace Midori.DevApiServer.Storage;

/// <summary>The outcome of a write: HTTP status, body and <c>Warning</c> header values.</summary>
public sealed record WriteResult(int Code, JsonObject Body, IReadOnlyList<string> Warnings);

/// <summary>
/// kube-apiserver write semantics on top of <see cref="ResourceStore"/>: metadata ownership, resourceVersion
/// preconditions, generation, status subresource, finalizers and graceful deletion, and CRD registration.
/// Each public method takes the store lock for its whole read-modify-write.
/// </summary>
public sealed class ResourceOperations(ResourceStore store, ResourceRegistry registry, TimeProvider time)
{
    private const string GenerateNameAlphabet = "bcdfghjklmnpqrstvwxz2456789";

    // Server-side apply of built-ins (no managedFields kept for them): the last configuration each field manager applied,
    // per object uid (guarded by the store lock). Custom resources track ownership in managedFields instead (FieldManager).
    private readonly Dictionary<(string Uid, string Manager, string Subresource), JsonObject> _appliedConfigurations = new();

    // Fields only the server sets; whatever a client sends for them is discarded or overwritten.
    private static readonly string[] ServerManagedMetadata =
        ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation", "managedFields", "selfLink", "resourceVersion"];

    /// <param name="manager">The field manager (<see cref="FieldManager.ManagerName"/>) recorded in managedFields of custom resources.</param>
    public WriteResult Create(ResourceType type, string? ns, JsonObject body, FieldValidation fieldValidation, string? manager = null)
        => Create(type, ns, body, fieldValidation, new Ownership(manager ?? string.Empty));

    private WriteResult Create(ResourceType type, string? ns, JsonObject body, FieldValidation fieldValidation, Ownership ownership)
    {
        lock (store.Sync)
        {
            var obj = PrepareBody(type, body);
            var requestedManagedFields = obj["metadata"]?["managedFields"]?.DeepClone() as JsonArray;
            var meta = ObjectMeta.Of(obj);
            CheckNamespace(type, ns, meta);
            if (string.IsNullOrEmpty((string?)meta["name"]))
            {
                meta["name"] = (string?)meta["generateName"] is { Length: > 0 } prefix
                    ? prefix + string.Concat(Enumerable.Range(0, 5).Select(_ => GenerateNameAlphabet[Random.Shared.Next(GenerateNameAlphabet.Length)]))
                    : throw StatusErrors.Invalid(type, string.Empty, [FieldError.Required("metadata.name") with { Message = "Required value: name or generateName is required" }]);
            }

            var name = (string)meta["name"]!;

            // etcd refuses it and the real server surfaces that as a 500; clients must not send a stale resourceVersion.
            if ((string?)meta["resourceVersion"] is { Length: > 0 })
            {
                throw StatusErrors.Generic(500, "InternalError", "Internal error occurred: resourceVersion should not be set on objects to be created");
            }

            foreach (var field in ServerManagedMetadata)
            {
                meta.Remove(field);
            }

            if (type.HasStatusSubresource)
            {
                obj.Remove("status");
            }

            var crdVersions = type.Group == ResourceRegistry.CrdGroup ? CrdRegistrar.Prepare(type, obj) : [];
            var warnings = Admission.Admit(type, obj, old: null, fieldValidation);
            if (store.Get(type, ns, name) is not null)
            {
                throw StatusErrors.AlreadyExists(type, name);
            }

            meta = ObjectMeta.Of(obj);
            meta["uid"] = Guid.NewGuid().ToString();
            meta["creationTimestamp"] = ObjectMeta.FormatTime(time.GetUtcNow());
            if (type.TracksGeneration)
            {
                meta["generation"] = 1L;
            }

            if (type.IsCustomResource)
            {
                var now = ObjectMeta.FormatTime(time.GetUtcNow());
                var entries = ownership.Applied is { } applied
                    ? [.. applied.Select(e => e.SameOwner(ownership.Manager, ManagedFieldsEntry.Apply, null) ? e with { Time = now } : e)]
                    : FieldManager.Update(type, FieldManager.Starting(null, requestedManagedFields, null), null, obj, ownership.Manager, null, now);
                SetManagedFields(meta, entries);
            }

            var created = store.Commit(type, obj, previous: null);
            foreach (var served in crdVersions)
            {
                registry.Add(served);
            }

            if (crdVersions.Count > 0)
            {
                // The apiextensions controllers accept the names and establish the CRD right after the create answer.
                store.Commit(type, CrdRegistrar.Established(created, time.GetUtcNow()), created);
            }

            return new WriteResult(201, Present(type, created), warnings);
        }
    }

    public WriteResult Replace(ResourceType type, string? ns, string name, string? subresource, JsonObject body, FieldValidation fieldValidation, string? manager = null)
    {
        lock (store.Sync)
        {
            var old = store.Get(type, ns, name) ?? throw StatusErrors.NotFound(type, name);
            var obj = PrepareBody(type, body);
            var meta = ObjectMeta.Of(obj);
            if ((string?)meta["name"] is { } bodyName && bodyName != name)
            {
                throw StatusErrors.BadRequest($"the name of the object ({bodyName}) does not match the name on the URL ({name})");
            }

            CheckNamespace(type, ns, meta);
            switch ((string?)meta["resourceVersion"])
            {
                case null or "" when !type.AllowUnconditionalUpdate:
                    throw StatusErrors.Invalid(type, name, [FieldError.Invalid("metadata.resourceVersion", "0x0", "must be specified for an update")]);
                case null or "":
                    break;
                case var rv when rv != ObjectMeta.ResourceVersion(old):
                    throw StatusErrors.Conflict(type, name);
            }

            return Update(type, old, obj, subresource, fieldValidation, new Ownership(manager ?? string.Empty));
        }
    }

    public WriteResult Patch(ResourceType type, string? ns, string name, string? subresource, string contentType, string body, FieldValidation fieldValidation, string? manager = null)
    {
        lock (store.Sync)
        {
            var old = store.Get(type, ns, name) ?? throw StatusErrors.NotFound(type, name);
            var patched = ApplyPatch(type, old, contentType, body);
            if (ObjectMeta.ResourceVersion(patched) is { Length: > 0 } rv && rv != ObjectMeta.ResourceVersion(old))
            {
                throw StatusErrors.Conflict(type, name);
            }

            if (ObjectMeta.Uid(patched) is { Length: > 0 } uid && uid != ObjectMeta.Uid(old))
            {
                throw StatusErrors.Conflict(type, name, $"Precondition failed: UID in precondition: {uid}, UID in object meta: {ObjectMeta.Uid(old)}");
            }

            return Update(type, old, PrepareBody(type, patched), subresource, fieldValidation, new Ownership(manager ?? string.Empty));
        }
    }

    /// <summary>GET .../scale: the custom resource's replicas as an autoscaling/v1 Scale.</summary>
    public JsonObject GetScale(ResourceType type, ScaleSubresource scale, string? ns, string name)
    {
        lock (store.Sync)
        {
            return scale.ScaleOf(store.Get(type, ns, name) ?? throw StatusErrors.NotFound(type, name));
        }
    }

    /// <summary>PUT .../scale: writes the Scale's spec.replicas into the custom resource (a resourceVersion in it is a precondition).</summary>
    public WriteResult UpdateScale(ResourceType type, ScaleSubresource scale, string? ns, string name, JsonObject body, FieldValidation fieldValidation, string? manager = null)
    {
        lock (store.Sync)
        {
            var old = store.Get(type, ns, name) ?? throw StatusErrors.NotFound(type, name);
            return WriteScale(type, scale, old, name, body, fieldValidation, manager);
        }
    }

    /// <summary>PATCH .../scale (JSON, merge or strategic merge patch): the patch applies to the Scale, then as an update.</summary>
    public WriteResult PatchScale(ResourceType type, ScaleSubresource scale, string? ns, string name, string contentType, string body, FieldValidation fieldValidation, string? manager = null)
    {
        lock (store.Sync)
        {
            var old = store.Get(type, ns, name) ?? throw StatusErrors.NotFound(type, name);
            var current = scale.ScaleOf(old);
            var patched = ApplyPatch(ScaleSubresource.ScaleType, current, contentType, body);
            return WriteScale(type, scale, old, name, patched, fieldValidation, manager);
        }
    }

    private WriteResult WriteScale(ResourceType type, ScaleSubresource scale, JsonObject old, string name, JsonObject written, FieldValidation fieldValidation, string? manager)
    {
        if (ObjectMeta.Name(written) is { Length: > 0 } bodyName && bodyName != name)
        {
            throw StatusErrors.BadRequest($"the name of the object ({bodyName}) does not match the name on the URL ({name})");
        }

        if (ObjectMeta.ResourceVersion(written) is { Length: > 0 } rv && rv != ObjectMeta.ResourceVersion(old))
        {
            throw StatusErrors.Conflict(type, name);
        }

        var replicas = ScaleSubresource.WantedReplicas(written, name);
        var result = Update(type, old, scale.WithSpecReplicas(old, replicas), "scale", fieldValidation, new Ownership(manager ?? string.Empty));
        return result with { Body = scale.ScaleOf(result.Body) };
    }

    /// <summary>
    /// Server-side apply: creates the object when missing    /// <summary>
    /// Server-side apply: creates the object when missing, otherwise merges the applied configuration (see <see cref="ServerSideApply"/>).
    /// Custom resources get field ownership, conflicts and <paramref name="force"/> as the real server has them (<see cref="FieldManager"/>);
    /// for built-ins each manager's last applied configuration is remembered per object, so fields it stops applying are removed.
    /// </summary>
    public WriteResult Apply(ResourceType type, string? ns, string name, string? subresource, string body, string? fieldManager, bool force, FieldValidation fieldValidation)
    {
        if (string.IsNullOrEmpty(fieldManager))
        {
            throw StatusErrors.BadRequest("PATCH requests with apply content type must have fieldManager");
        }

        var applied = ServerSideApply.Parse(body);
        if ((string?)applied["apiVersion"] != type.ApiVersion || (string?)applied["kind"] != type.Kind)
        {
            throw StatusErrors.BadRequest($"the API version in the data ({applied["apiVersion"]}) does not match the expected API version ({type.ApiVersion}) or kind ({applied["kind"]}) is not {type.Kind}");
        }

        if (ObjectMeta.Name(applied) is { } bodyName && bodyName != name)
        {
            throw StatusErrors.BadRequest($"the name of the object ({bodyName}) does not match the name on the URL ({name})");
        }

        if (applied["metadata"]?["managedFields"] is not null)
        {
            throw StatusErrors.BadRequest("metadata.managedFields must be nil");
        }

        lock (store.Sync)
        {
            ObjectMeta.Of(applied)["name"] = name;
            var old = store.Get(type, ns, name);
            WriteResult result;
            if (old is null)
            {
                if (subresource is not null)
                {
                    throw StatusErrors.NotFound(type, name);
                }

                var owners = type.IsCustomResource ? FieldManager.Apply(type, [], applied, fieldManager, null, force).Entries : null;
                result = Create(type, ns, applied, fieldValidation, new Ownership(fieldManager, owners));
            }
            else if (type.IsCustomResource)
            {
                var (merged, owners) = FieldManager.Apply(type, old, applied, fieldManager, subresource, force);
                ServerSideApply.UpdateLastApplied(merged, old, applied, fieldManager);
                return Update(type, old, PrepareBody(type, merged), subresource, fieldValidation, new Ownership(fieldManager, owners));
            }
            else
            {
                var previous = _appliedConfigurations.GetValueOrDefault((ObjectMeta.Uid(old)!, fieldManager, subresource ?? string.Empty));
                var merged = ServerSideApply.Merge(type.Schema, old, applied, previous);
                ServerSideApply.UpdateLastApplied(merged, old, applied, fieldManager);
                result = Update(type, old, PrepareBody(type, merged), subresource, fieldValidation, new Ownership(fieldManager));
            }

            if (!type.IsCustomResource && ObjectMeta.Uid(result.Body) is { } uid)
            {
                _appliedConfigurations[(uid, fieldManager, subresource ?? string.Empty)] = (JsonObject)applied.DeepClone();
            }

            return result;
        }
    }

    public WriteResult Delete(ResourceType type, string? ns, string name, JsonObject? options)
    {
        lock (store.Sync)
        {
            var current = store.Get(type, ns, name) ?? throw StatusErrors.NotFound(type, name);
            if ((string?)options?["preconditions"]?["uid"] is { Length: > 0 } uid && uid != ObjectMeta.Uid(current))
            {
                throw StatusErrors.Conflict(type, name, $"Precondition failed: UID in precondition: {uid}, UID in object meta: {ObjectMeta.Uid(current)}");
            }

            if ((string?)options?["preconditions"]?["resourceVersion"] is { Length: > 0 } rv && rv != ObjectMeta.ResourceVersion(current))
            {
                throw StatusErrors.Conflict(
                    type,
                    name,
                    $"Precondition failed: the ResourceVersion in the precondition ({rv}) does not match the ResourceVersion in record ({ObjectMeta.ResourceVersion(current)}). The object might have been modified");
            }

            return DeleteLocked(type, current);
        }
    }

    /// <summary>Deletes with the lock already held: graceful (finalizers pending) or immediate.</summary>
    public WriteResult DeleteLocked(ResourceType type, JsonObject current)
    {
        if (ObjectMeta.Finalizers(current).Count > 0)
        {
            if (ObjectMeta.IsBeingDeleted(current))
            {
                return new WriteResult(200, Present(type, current), []);
            }

            // Graceful deletion: mark it and bump generation (as the real server does), then wait for finalizers.
            var marked = (JsonObject)current.DeepClone();
            var meta = ObjectMeta.Of(marked);
            meta["deletionTimestamp"] = ObjectMeta.FormatTime(time.GetUtcNow());
            meta["deletionGracePeriodSeconds"] = 0L;
            if (ObjectMeta.Generation(marked) > 0)
            {
                meta["generation"] = ObjectMeta.Generation(marked) + 1;
            }

            return new WriteResult(200, Present(type, store.Commit(type, marked, current)), []);
        }

        RemoveLocked(type, current);
        return new WriteResult(200, StatusErrors.DeleteSuccess(type, ObjectMeta.Name(current)!, ObjectMeta.Uid(current)), []);
    }

    /// <summary>Replaces an object's owner references with the lock held (garbage collector use).</summary>
    public void SetOwnerReferencesLocked(ResourceType type, JsonObject current, JsonArray ownerReferences)
    {
        var updated = (JsonObject)current.DeepClone();
        ObjectMeta.Of(updated)["ownerReferences"] = ownerReferences;
        store.Commit(type, updated, current);
    }

    private WriteResult Update(ResourceType type, JsonObject old, JsonObject candidate, string? subresource, FieldValidation fieldValidation, Ownership ownership)
    {
        var name = ObjectMeta.Name(old)!;
        var requestedManagedFields = candidate["metadata"]?["managedFields"]?.DeepClone() as JsonArray;
        var updated = subresource == "status" ? StatusUpdate(old, candidate) : MainUpdate(type, old, candidate);
        var oldMeta = ObjectMeta.Of(old);
        var meta = ObjectMeta.Of(updated);
        foreach (var field in ServerManagedMetadata)
        {
            meta.Remove(field);
            if (oldMeta[field] is { } value && field is not ("managedFields" or "selfLink"))
            {
                meta[field] = value.DeepClone();
            }
        }

        meta["name"] = name;
        if (ObjectMeta.Namespace(old) is { } ns)
        {
            meta["namespace"] = ns;
        }

        var warnings = Admission.Admit(type, updated, old, fieldValidation);
        if (ObjectMeta.IsBeingDeleted(old))
        {
            var added = ObjectMeta.Finalizers(updated).Except(ObjectMeta.Finalizers(old)).ToList();
            if (added.Count > 0)
            {
                throw StatusErrors.Invalid(type, name, [FieldError.Forbidden(
                    "metadata.finalizers",
                    $"no new finalizers can be added if the object is being deleted, found new finalizers []string{{{string.Join(", ", added.Select(FieldError.Quote))}}}")]);
            }
        }

        if (type.TracksGeneration && SpecChanged(type, old, updated))
        {
            meta["generation"] = ObjectMeta.Generation(old) + 1;
        }

        if (type.IsCustomResource)
        {
            var now = ObjectMeta.FormatTime(time.GetUtcNow());
            List<ManagedFieldsEntry> entries;
            if (ownership.Applied is { } applied)
            {
                // An applier's time moves only when the object changed (an apply that changes nothing keeps it).
                var changed = !JsonNode.DeepEquals(WithoutManagedFields(old), WithoutManagedFields(updated));
                entries = [.. applied.Select(e => changed && e.SameOwner(ownership.Manager, ManagedFieldsEntry.Apply, subresource) ? e with { Time = now } : e)];
            }
            else
            {
                entries = FieldManager.Update(type, FieldManager.Starting(old, requestedManagedFields, subresource), old, updated, ownership.Manager, subresource, now);
            }

            SetManagedFields(meta, entries);
        }

        // A no-op write is not persisted: same resourceVersion, no watch event (like the real server).
        if (JsonNode.DeepEquals(JsonOrdering.Canonicalize(updated), old))
        {
            return new WriteResult(200, Present(type, old), warnings);
        }

        if (ObjectMeta.IsBeingDeleted(updated) && ObjectMeta.Finalizers(updated).Count == 0)
        {
            var tombstone = RemoveLocked(type, old);
            ObjectMeta.Of(updated)["resourceVersion"] = ObjectMeta.ResourceVersion(tombstone);
            return new WriteResult(200, Present(type, updated), warnings);
        }

        return new WriteResult(200, Present(type, store.Commit(type, updated, old)), warnings);
    }

    private static void SetManagedFields(JsonObject meta, List<ManagedFieldsEntry> entries)
    {
        var encoded = FieldManager.Encode(entries);
        if (encoded.Count > 0)
        {
            meta["managedFields"] = encoded;
        }
        else
        {
            meta.Remove("managedFields");
        }
    }

    private static JsonObject WithoutManagedFields(JsonObject obj)
    {
        var copy = JsonOrdering.Canonicalize(obj);
        ObjectMeta.Of(copy).Remove("managedFields");
        return copy;
    }

    private static JsonObject MainUpdate(ResourceType type, JsonObject old, JsonObject candidate)
    {
        var updated = (JsonObject)candidate.DeepClone();
        if (type.HasStatusSubresource)
        {
            updated.Remove("status");
            if (old["status"] is { } status)
            {
                updated["status"] = status.DeepClone();
            }
        }

        return updated;
    }

    // The status subresource writes status only: spec and the user-owned metadata come from the stored object.
    private static JsonObject StatusUpdate(JsonObject old, JsonObject candidate)
    {
        var updated = (JsonObject)candidate.DeepClone();
        updated.Remove("spec");
        if (old["spec"] is { } spec)
        {
            updated["spec"] = spec.DeepClone();
        }

        updated["metadata"] = old["metadata"]!.DeepClone();
        return updated;
    }

    private JsonObject RemoveLocked(ResourceType type, JsonObject current)
    {
        var tombstone = store.Remove(type, current);
        if (type.Group == ResourceRegistry.CrdGroup)
        {
            RemoveCustomResourceDefinition(current);
        }

        return tombstone;
    }

    // Deleting a CRD stops serving its resources and deletes every instance (the CRD cleanup finalizer's job).
    private void RemoveCustomResourceDefinition(JsonObject crd)
    {
        var group = (string?)crd["spec"]?["group"];
        var plural = (string?)crd["spec"]?["names"]?["plural"];
        foreach (var served in registry.All.Where(t => t.Group == group && t.Plural == plural).ToList())
        {
            foreach (var instance in store.List(served, ns: null))
            {
                store.Remove(served, instance);
            }

            registry.Remove(served);
        }
    }

    private static bool SpecChanged(ResourceType type, JsonObject old, JsonObject updated)
    {
        static JsonObject Strip(JsonObject obj, bool withStatus)
        {
            var copy = (JsonObject)obj.DeepClone();
            copy.Remove("metadata");
            if (withStatus)
            {
                copy.Remove("status");
            }

            return copy;
        }

        return !JsonNode.DeepEquals(Strip(old, type.HasStatusSubresource), Strip(updated, type.HasStatusSubresource));
    }

    private static JsonObject ApplyPatch(ResourceType type, JsonObject old, string contentType, string body)
    {
        var mediaType = contentType.Split(';')[0].Trim().ToLowerInvariant();
        JsonNode? patch;
        try
        {
            patch = JsonNode.Parse(body);
        }
        catch (JsonException ex)
        {
            throw StatusErrors.BadRequest($"error decoding patch: {ex.Message}");
        }

        switch (mediaType)
        {
            case "application/merge-patch+json":
            case "application/strategic-merge-patch+json" when !type.IsCustomResource:
                // Strategic merge is approximated by a JSON merge patch for built-ins (no list merge keys).
                return MergePatch.Apply(old.DeepClone(), patch) as JsonObject ?? throw StatusErrors.BadRequest("patch must produce an object");
            case "application/json-patch+json":
                try
                {
                    // Built-ins keep no managedFields, but clients patch them (kubectl's client-side to server-side apply migration):
                    // give such patches an empty list to replace; the result drops it again.
                    if (patch is JsonArray operations && operations.Any(o => o?["path"] is JsonValue p && p.TryGetValue<string>(out var pointer) && pointer.StartsWith("/metadata/managedFields", StringComparison.Ordinal)))
                    {
                        old = (JsonObject)old.DeepClone();
                        ObjectMeta.Of(old)["managedFields"] ??= new JsonArray();
                    }

                    return JsonPatch.Apply(old, patch as JsonArray ?? throw new JsonPatchException("patch must be an array")) as JsonObject
                        ?? throw new JsonPatchException("patch must produce an object");
                }
                catch (JsonPatchException)
                {
                    throw StatusErrors.PatchRejected();
                }

            default:
                throw StatusErrors.UnsupportedMediaType();
        }
    }

    private static JsonObject PrepareBody(ResourceType type, JsonObject body)
    {
        var obj = (JsonObject)body.DeepClone();
        if ((string?)obj["kind"] is { Length: > 0 } kind && kind != type.Kind)
        {
            throw StatusErrors.BadRequest($"the API version in the data ({obj["apiVersion"]}) does not match the expected API version ({type.ApiVersion}) or kind {kind} is not {type.Kind}");
        }

        obj["apiVersion"] = type.ApiVersion;
        obj["kind"] = type.Kind;
        return obj;
    }

    private static void CheckNamespace(ResourceType type, string? ns, JsonObject meta)
    {
        if (!type.Namespaced)
        {
            meta.Remove("namespace");
            return;
        }

        if ((string?)meta["namespace"] is { Length: > 0 } bodyNs && bodyNs != ns)
        {
            throw StatusErrors.BadRequest("the namespace of the provided object does not match the namespace sent on the request");
        }

        meta["namespace"] = ns;
    }

    private static JsonObject Present(ResourceType type, JsonObject stored)
    {
        var copy = (JsonObject)stored.DeepClone();
        copy["apiVersion"] = type.ApiVersion;
        return JsonOrdering.Canonicalize(copy);
    }

    /// <summary>Who a write is recorded for: the manager, and for a server-side apply the ownership it computed.</summary>
    private sealed record Ownership(string Manager, List<ManagedFieldsEntry>? Applied = null);
}
