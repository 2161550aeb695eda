using System.Text.Json.Nodes;
using Midori.DevApiServer.Schema;

namespace Midori.DevApiServer.Storage;

/// <summary>One <c>metadata.managedFields</c> entry.</summary>
public sealed record ManagedFieldsEntry(string Manager, string Operation, string ApiVersion, string? Subresource, string? Time, FieldSet Fields)
{
    public const string Apply = "Apply";
    public const string Update = "Update";

    public bool SameOwner(string manager, string operation, string? subresource)
        => Manager == manager && Operation == operation && Subresource == subresource;

    /// <summary>How conflict messages name the owner: appliers by name, updaters with the version they wrote.</summary>
    public string Describe() => Operation == Update ? $"\"{Manager}\" using {ApiVersion}" : $"\"{Manager}\"";
}

/// <summary>
/// Field ownership for custom resources, as kube-apiserver's field manager keeps it (structured merge diff): every write
/// records which manager set which fields in <c>metadata.managedFields</c> (<c>FieldsV1</c>). An update (create, PUT, merge or
/// JSON patch) gives its manager the fields it added or changed and takes them from everyone else; fields it removed leave
/// every set. A server-side apply owns exactly the fields of its configuration: changing a field another manager owns is a
/// 409 conflict unless forced (which takes the field over), and fields the applier set last time but no longer applies are
/// removed from the object when nobody else owns them. The manager is the request's <c>fieldManager</c>, else the start of its
/// User-Agent. Server-owned metadata and, with a status subresource, the other endpoint's half (status, or all but status)
/// are never tracked.
/// </summary>
public static class FieldManager
{
    private const string LastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration";

    // ObjectMeta's shape as the real server's schema gives it: the CRD schema says only "type: object" for metadata.
    private static readonly SchemaNode MetadataSchema = SchemaNode.Compile(JsonNode.Parse("""
        {
          "type": "object",
          "properties": {
            "labels": { "type": "object", "additionalProperties": { "type": "string" } },
            "annotations": { "type": "object", "additionalProperties": { "type": "string" } },
            "finalizers": { "type": "array", "items": { "type": "string" }, "x-kubernetes-list-type": "set" },
            "ownerReferences": {
              "type": "array",
              "x-kubernetes-list-type": "map",
              "x-kubernetes-list-map-keys": ["uid"],
              "items": {
                "type": "object",
                "properties": {
                  "apiVersion": { "type": "string" }, "kind": { "type": "string" }, "name": { "type": "string" },
                  "uid": { "type": "string" }, "controller": { "type": "boolean" }, "blockOwnerDeletion": { "type": "boolean" }
                }
              }
            },
            "name": { "type": "string" }, "generateName": { "type": "string" }, "namespace": { "type": "string" },
            "uid": { "type": "string" }, "resourceVersion": { "type": "string" }, "generation": { "type": "integer" },
            "creationTimestamp": { "type": "string" }, "deletionTimestamp": { "type": "string" },
            "deletionGracePeriodSeconds": { "type": "integer" }, "selfLink": { "type": "string" }
          }
        }
        """)!.AsObject());

    // What the field manager strips before tracking (stripMeta): identity and server-set metadata.
    private static readonly string[] UntrackedMetadata =
        ["name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName", "generation", "managedFields", "resourceVersion"];

    /// <summary>The manager of a non-apply write: <c>fieldManager</c>, else the User-Agent up to its first slash (as the real server does).</summary>
    public static string ManagerName(string? fieldManager, string? userAgent)
    {
        if (!string.IsNullOrEmpty(fieldManager))
        {
            return fieldManager;
        }

        var prefix = (userAgent ?? string.Empty).Split('/')[0];
        return new string([.. prefix.Where(c => !char.IsControl(c)).Take(128)]);
    }

    public static List<ManagedFieldsEntry> Decode(JsonArray? managedFields)
    {
        var entries = new List<ManagedFieldsEntry>();
        foreach (var entry in (managedFields ?? []).OfType<JsonObject>())
        {
            entries.Add(new ManagedFieldsEntry(
                (string?)entry["manager"] ?? string.Empty,
                (string?)entry["operation"] ?? ManagedFieldsEntry.Update,
                (string?)entry["apiVersion"] ?? string.Empty,
                (string?)entry["subresource"] is { Length: > 0 } subresource ? subresource : null,
                (string?)entry["time"],
                FieldSet.FromFieldsV1(entry["fieldsV1"] as JsonObject)));
        }

        return entries;
    }

    /// <summary>The real server's order: Apply before Update, then by time, manager, apiVersion, subresource.</summary>
    public static JsonArray Encode(IEnumerable<ManagedFieldsEntry> entries)
    {
        var sorted = entries.Where(e => !e.Fields.IsEmpty)
            .OrderBy(e => e.Operation, StringComparer.Ordinal)
            .ThenBy(e => e.Time is null ? DateTimeOffset.UnixEpoch : DateTimeOffset.Parse(e.Time, System.Globalization.CultureInfo.InvariantCulture))
            .ThenBy(e => e.Manager, StringComparer.Ordinal)
            .ThenBy(e => e.ApiVersion, StringComparer.Ordinal)
            .ThenBy(e => e.Subresource ?? string.Empty, StringComparer.Ordinal);
        var array = new JsonArray();
        foreach (var entry in sorted)
        {
            var json = new JsonObject
            {
                ["apiVersion"] = entry.ApiVersion,
                ["fieldsType"] = "FieldsV1",
                ["fieldsV1"] = entry.Fields.ToFieldsV1(),
                ["manager"] = entry.Manager,
                ["operation"] = entry.Operation,
            };
            if (entry.Subresource is not null)
            {
                json["subresource"] = entry.Subresource;
            }

            if (entry.Time is not null)
            {
                json["time"] = entry.Time;
            }

            array.Add(json);
        }

        return array;
    }

    /// <summary>
    /// The ownership an update starts from (decodeLiveOrNew): the managedFields the request sent when it sent some (a client may
    /// rewrite them; <c>[{}]</c> resets them), else the stored object's. Subresource writes always keep the stored ones.
    /// </summary>
    public static List<ManagedFieldsEntry> Starting(JsonObject? old, JsonArray? requested, string? subresource)
    {
        var stored = old?["metadata"]?["managedFields"] as JsonArray;
        if (subresource is not null || requested is null || requested.Count == 0)
        {
            return Decode(stored);
        }

        return requested is [JsonObject { Count: 0 }] ? [] : Decode(requested);
    }

    /// <summary>After a non-apply write: <paramref name="manager"/> owns what it added or changed; everyone loses that and what it removed.</summary>
    public static List<ManagedFieldsEntry> Update(ResourceType type, List<ManagedFieldsEntry> entries, JsonObject? old, JsonObject updated, string manager, string? subresource, string now)
    {
        var (added, modified, removed) = Compare(type, old, updated, subresource);
        var changed = added.Union(modified);
        var result = new List<ManagedFieldsEntry>();
        ManagedFieldsEntry? mine = null;
        foreach (var entry in entries)
        {
            if (entry.SameOwner(manager, ManagedFieldsEntry.Update, subresource))
            {
                mine = entry;
                continue;
            }

            result.Add(entry with { Fields = entry.Fields.Difference(changed).Difference(removed) });
        }

        var fields = (mine?.Fields ?? new FieldSet()).Difference(removed).Union(changed);
        result.Add(new ManagedFieldsEntry(manager, ManagedFieldsEntry.Update, type.ApiVersion, subresource, changed.IsEmpty ? mine?.Time : now, fields));
        return [.. result.Where(e => !e.Fields.IsEmpty)];
    }

    /// <summary>
    /// A server-side apply of <paramref name="applied"/> onto <paramref name="live"/>: the merged object with the fields this
    /// manager dropped (and nobody else owns) removed, and the new ownership. Throws the real server's 409 on conflicts unless
    /// <paramref name="force"/>; kubectl's first server-side apply over its own client-side apply may take fields the
    /// last-applied annotation shows it set (the object still matching it), as the real server lets it.
    /// </summary>
    public static (JsonObject Merged, List<ManagedFieldsEntry> Entries) Apply(
        ResourceType type, JsonObject live, JsonObject applied, string manager, string? subresource, bool force)
    {
        var entries = Decode(live["metadata"]?["managedFields"] as JsonArray);
        var previous = entries.FirstOrDefault(e => e.SameOwner(manager, ManagedFieldsEntry.Apply, subresource));
        var appliedSet = Track(type, ToFieldSet(type, applied), subresource);
        var others = entries.Where(e => e != previous).ToList();

        var merged = ServerSideApply.Merge(type.Schema, live, applied, previous: null);
        if (previous is not null)
        {
            var ownedByOthers = others.Aggregate(new FieldSet(), (set, e) => set.Union(e.Fields));
            Prune(merged, RootSchema(type), previous.Fields, appliedSet, ownedByOthers);
        }

        var (added, modified, removed) = Compare(type, live, merged, subresource);
        var changed = added.Union(modified);
        var conflicts = others.Select(e => (Entry: e, Fields: e.Fields.Intersection(changed))).Where(c => !c.Fields.IsEmpty).ToList();
        if (conflicts.Count > 0 && !force && !(manager == "kubectl" && AllowedByLastApplied(type, live, conflicts.Select(c => c.Fields))))
        {
            throw ConflictError(conflicts);
        }

        var result = others.Select(e => e with { Fields = e.Fields.Difference(changed).Difference(removed) }).ToList();
        result.Add(new ManagedFieldsEntry(manager, ManagedFieldsEntry.Apply, type.ApiVersion, subresource, previous?.Time, appliedSet));
        return (merged, [.. result.Where(e => !e.Fields.IsEmpty)]);
    }

    /// <summary>The set of fields an object (or an applied configuration) sets: leaves, list items and empty maps, as ToFieldSet does.</summary>
    public static FieldSet ToFieldSet(ResourceType type, JsonObject obj)
    {
        var set = new FieldSet();
        Walk(obj, RootSchema(type), set, root: true);
        return set;
    }

    private static SchemaNode? RootSchema(ResourceType type) => type.Schema;

    private static SchemaNode? ChildSchema(SchemaNode? schema, string key, bool root)
        => root && key == "metadata" ? MetadataSchema : schema?.PropertySchema(key);

    private static void Walk(JsonNode? value, SchemaNode? schema, FieldSet at, bool root = false)
    {
        switch (value)
        {
            case JsonObject obj:
                foreach (var (key, child) in obj)
                {
                    var node = at.Child(FieldSet.FieldElement(key));
                    Walk(child, ChildSchema(schema, key, root), node);
                    var declared = (root && key == "metadata") || schema?.Properties.ContainsKey(key) == true;
                    if (child is null || child is JsonObject { Count: 0 } || !declared)
                    {
                        node.Member = true;
                    }
                }

                break;
            case JsonArray list when schema is { ListType: "map", ListMapKeys.Count: > 0 }:
                foreach (var item in list.OfType<JsonObject>())
                {
                    var node = at.Child(FieldSet.KeyElement(item, schema.ListMapKeys));
                    Walk(item, schema.Items, node);
                    node.Member = true;
                }

                break;
            case JsonArray list when schema is { ListType: "set" }:
                foreach (var item in list)
                {
                    at.Child(FieldSet.ValueElement(item)).Member = true;
                }

                break;
            default:
                at.Member = true;
                break;
        }
    }

    /// <summary>What changed from <paramref name="old"/> (null: a create) to <paramref name="updated"/>, restricted to tracked fields.</summary>
    private static (FieldSet Added, FieldSet Modified, FieldSet Removed) Compare(ResourceType type, JsonObject? old, JsonObject updated, string? subresource)
    {
        var (added, modified, removed) = (new FieldSet(), new FieldSet(), new FieldSet());
        CompareNode(old ?? [], updated, RootSchema(type), added, modified, removed, root: true);
        return (Track(type, added, subresource), Track(type, modified, subresource), Track(type, removed, subresource));
    }

    private static void CompareNode(JsonNode? left, JsonNode? right, SchemaNode? schema, FieldSet added, FieldSet modified, FieldSet removed, bool root = false)
    {
        switch (left, right)
        {
            case (JsonObject l, JsonObject r):
                foreach (var key in l.Select(p => p.Key).Union(r.Select(p => p.Key)))
                {
                    var element = FieldSet.FieldElement(key);
                    Descend(l, r, key, element, ChildSchema(schema, key, root), added, modified, removed);
                }

                return;
            case (JsonArray l, JsonArray r) when schema is { ListType: "map", ListMapKeys.Count: > 0 }:
                var leftItems = l.OfType<JsonObject>().GroupBy(i => FieldSet.KeyElement(i, schema.ListMapKeys)).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
                var rightItems = r.OfType<JsonObject>().GroupBy(i => FieldSet.KeyElement(i, schema.ListMapKeys)).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
                foreach (var key in leftItems.Keys.Union(rightItems.Keys))
                {
                    DescendItem(leftItems.GetValueOrDefault(key), rightItems.GetValueOrDefault(key), key, schema.Items, added, modified, removed);
                }

                return;
            case (JsonArray l, JsonArray r) when schema is { ListType: "set" }:
                var leftValues = l.Select(FieldSet.ValueElement).ToHashSet(StringComparer.Ordinal);
                var rightValues = r.Select(FieldSet.ValueElement).ToHashSet(StringComparer.Ordinal);
                foreach (var value in rightValues.Except(leftValues))
                {
                    added.Child(value).Member = true;
                }

                foreach (var value in leftValues.Except(rightValues))
                {
                    removed.Child(value).Member = true;
                }

                return;
            default:
                if (!JsonNode.DeepEquals(left, right))
                {
                    modified.Member = true;
                }

                return;
        }
    }

    private static void Descend(JsonObject left, JsonObject right, string key, string element, SchemaNode? schema, FieldSet added, FieldSet modified, FieldSet removed)
    {
        var (inLeft, inRight) = (left.TryGetPropertyValue(key, out var l), right.TryGetPropertyValue(key, out var r));
        if (inLeft && inRight)
        {
            var (a, m, d) = (added.Child(element), modified.Child(element), removed.Child(element));
            CompareNode(l, r, schema, a, m, d);
            Tidy(added, modified, removed, element);
        }
        else if (inRight)
        {
            MarkAll(r, schema, added.Child(element));
        }
        else
        {
            MarkAll(l, schema, removed.Child(element));
        }
    }

    private static void DescendItem(JsonObject? left, JsonObject? right, string element, SchemaNode? schema, FieldSet added, FieldSet modified, FieldSet removed)
    {
        if (left is not null && right is not null)
        {
            CompareNode(left, right, schema, added.Child(element), modified.Child(element), removed.Child(element));
            Tidy(added, modified, removed, element);
        }
        else if (right is not null)
        {
            MarkAll(right, schema, added.Child(element));
        }
        else
        {
            MarkAll(left, schema, removed.Child(element));
        }
    }

    private static void Tidy(FieldSet added, FieldSet modified, FieldSet removed, string element)
    {
        foreach (var set in new[] { added, modified, removed })
        {
            if (set.Find(element) is { IsEmpty: true })
            {
                set.Remove(element);
            }
        }
    }

    // A subtree that appeared or disappeared: the node itself and everything below it.
    private static void MarkAll(JsonNode? value, SchemaNode? schema, FieldSet at)
    {
        at.Member = true;
        switch (value)
        {
            case JsonObject obj:
                foreach (var (key, child) in obj)
                {
                    MarkAll(child, schema?.PropertySchema(key), at.Child(FieldSet.FieldElement(key)));
                }

                break;
            case JsonArray list when schema is { ListType: "map", ListMapKeys.Count: > 0 }:
                foreach (var item in list.OfType<JsonObject>())
                {
                    MarkAll(item, schema.Items, at.Child(FieldSet.KeyElement(item, schema.ListMapKeys)));
                }

                break;
            case JsonArray list when schema is { ListType: "set" }:
                foreach (var item in list)
                {
                    at.Child(FieldSet.ValueElement(item)).Member = true;
                }

                break;
        }
    }

    /// <summary>Drops what is never tracked: apiVersion, kind, server-set metadata, and the other endpoint's half of the object.</summary>
    private static FieldSet Track(ResourceType type, FieldSet set, string? subresource)
    {
        var tracked = set.Clone();
        tracked.Member = false;
        tracked.Remove("f:apiVersion");
        tracked.Remove("f:kind");
        if (tracked.Find("f:metadata") is { } meta)
        {
            meta.Member = false;
            foreach (var field in UntrackedMetadata)
            {
                meta.Remove(FieldSet.FieldElement(field));
            }

            if (meta.IsEmpty)
            {
                tracked.Remove("f:metadata");
            }
        }

        if (subresource == "status")
        {
            foreach (var element in tracked.Children.Keys.Where(k => k != "f:status").ToList())
            {
                tracked.Remove(element);
            }
        }
        else if (type.HasStatusSubresource)
        {
            tracked.Remove("f:status");
        }

        return tracked;
    }

    /// <summary>
    /// Removes from <paramref name="node"/> what the applier owned last time (<paramref name="last"/>) and neither applies now nor
    /// does anyone else own, at that path or below (a map entry or list item goes as a whole).
    /// </summary>
    private static void Prune(JsonNode node, SchemaNode? schema, FieldSet last, FieldSet? applied, FieldSet? others, bool root = true)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var key in obj.Select(p => p.Key).ToList())
                {
                    var element = FieldSet.FieldElement(key);
                    if (last.Find(element) is not { } was)
                    {
                        continue;
                    }

                    var (now, theirs) = (applied?.Find(element), others?.Find(element));
                    if (was.Member && now is null or { IsEmpty: true } && theirs is null or { IsEmpty: true })
                    {
                        obj.Remove(key);
                    }
                    else if (obj[key] is JsonObject or JsonArray)
                    {
                        Prune(obj[key]!, ChildSchema(schema, key, root), was, now, theirs, root: false);
                    }
                }

                break;
            case JsonArray list when schema is { ListType: "map", ListMapKeys.Count: > 0 } or { ListType: "set" }:
                for (var i = list.Count - 1; i >= 0; i--)
                {
                    var element = schema.ListType == "set" ? FieldSet.ValueElement(list[i]) : list[i] is JsonObject item ? FieldSet.KeyElement(item, schema.ListMapKeys) : null;
                    if (element is null || last.Find(element) is not { } was)
                    {
                        continue;
                    }

                    var (now, theirs) = (applied?.Find(element), others?.Find(element));
                    if (was.Member && now is null or { IsEmpty: true } && theirs is null or { IsEmpty: true })
                    {
                        list.RemoveAt(i);
                    }
                    else if (list[i] is JsonObject)
                    {
                        Prune(list[i]!, schema.Items, was, now, theirs, root: false);
                    }
                }

                break;
        }
    }

    // The client-side to server-side upgrade: conflicts only over fields kubectl's last-applied annotation set, on an object
    // that still matches it, are kubectl's own earlier writes.
    private static bool AllowedByLastApplied(ResourceType type, JsonObject live, IEnumerable<FieldSet> conflicts)
    {
        if ((string?)live["metadata"]?["annotations"]?[LastAppliedAnnotation] is not { Length: > 0 } annotation)
        {
            return false;
        }

        JsonObject? lastApplied;
        try
        {
            lastApplied = JsonNode.Parse(annotation) as JsonObject;
        }
        catch (System.Text.Json.JsonException)
        {
            return false;
        }

        if (lastApplied is null || !JsonNode.DeepEquals(ServerSideApply.Merge(type.Schema, live, lastApplied, previous: null), live))
        {
            return false;
        }

        var allowed = ToFieldSet(type, lastApplied);
        return conflicts.All(c => c.Difference(allowed).IsEmpty);
    }

    private static ApiException ConflictError(List<(ManagedFieldsEntry Entry, FieldSet Fields)> conflicts)
    {
        var paths = conflicts.OrderBy(c => c.Entry.Manager, StringComparer.Ordinal).ThenBy(c => c.Entry.Operation, StringComparer.Ordinal)
            .Select(c => (c.Entry, Paths: c.Fields.MemberPaths().ToList())).ToList();
        var count = paths.Sum(p => p.Paths.Count);
        var message = count == 1
            ? $"Apply failed with 1 conflict: conflict with {paths[0].Entry.Describe()}: {paths[0].Paths[0]}"
            : $"Apply failed with {count} conflicts: " + string.Join('\n', paths.Select(p => $"conflicts with {p.Entry.Describe()}:\n" + string.Join('\n', p.Paths.Select(x => $"- {x}"))));
        var causes = new JsonArray();
        foreach (var (entry, list) in paths)
        {
            foreach (var path in list)
            {
                causes.Add(new JsonObject { ["reason"] = "FieldManagerConflict", ["message"] = $"conflict with {entry.Describe()}", ["field"] = path });
            }
        }

        return StatusErrors.ApplyConflict(message, causes);
    }
}
