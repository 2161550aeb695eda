using System.Text.Json;
using Google.Protobuf.Reflection;

namespace Midori.Operator.Testing.Contracts;

/// <summary>
/// Message shapes from official <c>.proto</c> files (parsed at run time with protobuf-net.Reflection), and a validator
/// of JSON messages against them under the proto3 JSON mapping: known field names only (lowerCamel json_name or the
/// original name), value kinds per field type, enums by name or number, maps, repeated fields, and at most one member
/// per real <c>oneof</c>. Used by the loopback fakes to hold Connect RPC requests to the protos the way Prism holds
/// HTTP requests to the OpenAPI specs.
/// </summary>
public sealed class ProtoContract
{
    private readonly Dictionary<string, DescriptorProto> _messages = new(StringComparer.Ordinal);
    private readonly Dictionary<string, EnumDescriptorProto> _enums = new(StringComparer.Ordinal);

    private ProtoContract()
    {
    }

    /// <param name="specFiles">File names under <c>../shared/specs</c>, e.g. <c>e2b-envd-process.proto</c>.</param>
    public static ProtoContract Load(params string[] specFiles)
    {
        var set = new FileDescriptorSet();
        set.AddImportPath(Path.Combine(RepositoryPaths.Shared, "specs"));
        foreach (var file in specFiles)
        {
            if (!set.Add(file))
            {
                throw new FileNotFoundException($"Proto {file} not found under {Path.Combine(RepositoryPaths.Shared, "specs")}", file);
            }
        }

        set.Process();
        var errors = set.GetErrors();
        if (errors.Length > 0)
        {
            throw new InvalidOperationException("Proto files do not parse: " + string.Join("; ", errors.Select(e => e.ToString())));
        }

        var contract = new ProtoContract();
        foreach (var file in set.Files)
        {
            var prefix = string.IsNullOrEmpty(file.Package) ? "." : $".{file.Package}.";
            foreach (var message in file.MessageTypes)
            {
                contract.AddMessage(prefix + message.Name, message);
            }

            foreach (var @enum in file.EnumTypes)
            {
                contract._enums[prefix + @enum.Name] = @enum;
            }
        }

        return contract;
    }

    public bool HasMessage(string fullName) => _messages.ContainsKey(Normalize(fullName));

    /// <summary>Violations of <paramref name="fullName"/> (e.g. <c>process.StartRequest</c>) by a JSON message; empty when it conforms.</summary>
    public IReadOnlyList<string> Validate(string fullName, JsonElement json)
    {
        var errors = new List<string>();
        if (!_messages.TryGetValue(Normalize(fullName), out var message))
        {
            errors.Add($"unknown message type {fullName}");
            return errors;
        }

        ValidateMessage(Normalize(fullName), message, json, "$", errors);
        return errors;
    }

    public IReadOnlyList<string> Validate(string fullName, ReadOnlySpan<byte> utf8Json)
    {
        try
        {
            using var document = JsonDocument.Parse(utf8Json.ToArray());
            return Validate(fullName, document.RootElement);
        }
        catch (JsonException ex)
        {
            return [$"{fullName}: not JSON ({ex.Message})"];
        }
    }

    private void AddMessage(string fullName, DescriptorProto message)
    {
        _messages[fullName] = message;
        foreach (var nested in message.NestedTypes)
        {
            AddMessage($"{fullName}.{nested.Name}", nested);
        }

        foreach (var @enum in message.EnumTypes)
        {
            _enums[$"{fullName}.{@enum.Name}"] = @enum;
        }
    }

    private static string Normalize(string name) => name.StartsWith('.') ? name : "." + name;

    private void ValidateMessage(string typeName, DescriptorProto message, JsonElement json, string path, List<string> errors)
    {
        if (typeName == ".google.protobuf.Timestamp")
        {
            if (json.ValueKind != JsonValueKind.String || !DateTimeOffset.TryParse(json.GetString(), System.Globalization.CultureInfo.InvariantCulture, out _))
            {
                errors.Add($"{path}: google.protobuf.Timestamp must be an RFC 3339 string");
            }

            return;
        }

        if (json.ValueKind != JsonValueKind.Object)
        {
            errors.Add($"{path}: {typeName.TrimStart('.')} must be a JSON object, got {json.ValueKind}");
            return;
        }

        var oneofMembers = new Dictionary<int, string>();
        var seen = new HashSet<int>();
        foreach (var property in json.EnumerateObject())
        {
            var field = message.Fields.FirstOrDefault(f => f.JsonName == property.Name || f.Name == property.Name);
            if (field is null)
            {
                errors.Add($"{path}.{property.Name}: no such field in {typeName.TrimStart('.')}");
                continue;
            }

            if (!seen.Add(field.Number))
            {
                errors.Add($"{path}.{property.Name}: field {field.Name} given twice");
            }

            if (property.Value.ValueKind == JsonValueKind.Null)
            {
                continue; // null means the default value
            }

            if (field.ShouldSerializeOneofIndex() && !field.Proto3Optional)
            {
                if (oneofMembers.TryGetValue(field.OneofIndex, out var other))
                {
                    errors.Add($"{path}: oneof {message.OneofDecls[field.OneofIndex].Name} has both {other} and {field.Name}");
                }
                else
                {
                    oneofMembers[field.OneofIndex] = field.Name;
                }
            }

            ValidateField(field, property.Value, $"{path}.{property.Name}", errors);
        }
    }

    private void ValidateField(FieldDescriptorProto field, JsonElement value, string path, List<string> errors)
    {
        if (field.label == FieldDescriptorProto.Label.LabelRepeated)
        {
            if (field.type == FieldDescriptorProto.Type.TypeMessage && _messages.TryGetValue(field.TypeName, out var entry) && entry.Options?.MapEntry == true)
            {
                if (value.ValueKind != JsonValueKind.Object)
                {
                    errors.Add($"{path}: map field {field.Name} must be a JSON object");
                    return;
                }

                var keyField = entry.Fields.Single(f => f.Number == 1);
                var valueField = entry.Fields.Single(f => f.Number == 2);
                foreach (var item in value.EnumerateObject())
                {
                    if (keyField.type is not FieldDescriptorProto.Type.TypeString && !long.TryParse(item.Name, out _) && item.Name is not ("true" or "false"))
                    {
                        errors.Add($"{path}.{item.Name}: map key is not a {keyField.type}");
                    }

                    ValidateSingle(valueField, item.Value, $"{path}.{item.Name}", errors);
                }

                return;
            }

            if (value.ValueKind != JsonValueKind.Array)
            {
                errors.Add($"{path}: repeated field {field.Name} must be a JSON array");
                return;
            }

            var index = 0;
            foreach (var item in value.EnumerateArray())
            {
                ValidateSingle(field, item, $"{path}[{index++}]", errors);
            }

            return;
        }

        ValidateSingle(field, value, path, errors);
    }

    private void ValidateSingle(FieldDescriptorProto field, JsonElement value, string path, List<string> errors)
    {
        switch (field.type)
        {
            case FieldDescriptorProto.Type.TypeMessage:
                if (_messages.TryGetValue(field.TypeName, out var message))
                {
                    ValidateMessage(field.TypeName, message, value, path, errors);
                }
                else if (field.TypeName != ".google.protobuf.Timestamp")
                {
                    errors.Add($"{path}: unknown message type {field.TypeName}");
                }
                else
                {
                    ValidateMessage(field.TypeName, new DescriptorProto(), value, path, errors);
                }

                break;
            case FieldDescriptorProto.Type.TypeString:
                Expect(value.ValueKind == JsonValueKind.String, "a string");
                break;
            case FieldDescriptorProto.Type.TypeBool:
                Expect(value.ValueKind is JsonValueKind.True or JsonValueKind.False, "true or false");
                break;
            case FieldDescriptorProto.Type.TypeBytes:
                Expect(value.ValueKind == JsonValueKind.String && IsBase64(value.GetString()!), "a base64 string");
                break;
            case FieldDescriptorProto.Type.TypeEnum:
                if (_enums.TryGetValue(field.TypeName, out var @enum))
                {
                    var ok = value.ValueKind switch
                    {
                        JsonValueKind.String => @enum.Values.Any(v => v.Name == value.GetString()),
                        JsonValueKind.Number => value.TryGetInt32(out var n) && @enum.Values.Any(v => v.Number == n),
                        _ => false,
                    };
                    Expect(ok, $"a value of enum {field.TypeName.TrimStart('.')} ({string.Join(", ", @enum.Values.Select(v => v.Name))})");
                }

                break;
            case FieldDescriptorProto.Type.TypeDouble or FieldDescriptorProto.Type.TypeFloat:
                Expect(value.ValueKind == JsonValueKind.Number || (value.ValueKind == JsonValueKind.String && value.GetString() is "NaN" or "Infinity" or "-Infinity"), "a number");
                break;
            case FieldDescriptorProto.Type.TypeUint32 or FieldDescriptorProto.Type.TypeFixed32:
                Expect(Integer(value) is { } u && u >= 0 && u <= uint.MaxValue, "an unsigned 32-bit integer");
                break;
            case FieldDescriptorProto.Type.TypeInt32 or FieldDescriptorProto.Type.TypeSint32 or FieldDescriptorProto.Type.TypeSfixed32:
                Expect(Integer(value) is { } i && i >= int.MinValue && i <= int.MaxValue, "a 32-bit integer");
                break;
            default: // 64-bit integers: number or decimal string
                Expect(Integer(value) is not null, "a 64-bit integer (number or string)");
                break;
        }

        void Expect(bool condition, string what)
        {
            if (!condition)
            {
                errors.Add($"{path}: {field.Name} must be {what}, got {value.GetRawText()}");
            }
        }
    }

    private static decimal? Integer(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Number when value.TryGetDecimal(out var d) && decimal.Truncate(d) == d => d,
        JsonValueKind.String when decimal.TryParse(value.GetString(), System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var s) => s,
        _ => null,
    };

    private static bool IsBase64(string text)
    {
        var normalized = text.Replace('-', '+').Replace('_', '/');
        normalized = normalized.PadRight(normalized.Length + ((4 - (normalized.Length % 4)) % 4), '=');
        return Convert.TryFromBase64String(normalized, new byte[normalized.Length], out _);
    }
}
