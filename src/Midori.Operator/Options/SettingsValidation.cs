using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Options;

namespace Midori.Operator.Options;

/// <summary>
/// Data-annotation validation whose messages name what a user sets: the configuration key (<c>Operator:RetainExpiredFor</c>),
/// the value it bound to and the allowed range, so a bad setting ends in one readable line rather than a stack trace.
/// </summary>
public static class SettingsValidation
{
    /// <summary>Validates the annotations of <typeparamref name="T"/>'s properties on start, naming keys under <paramref name="sectionName"/>.</summary>
    public static OptionsBuilder<T> ValidateSettings<T>(this OptionsBuilder<T> builder, string sectionName)
        where T : class
    {
        builder.Services.AddSingleton<IValidateOptions<T>>(new AnnotatedSettingsValidator<T>(builder.Name, sectionName));
        return builder.ValidateOnStart();
    }

    /// <summary>
    /// One line per problem when <paramref name="exception"/> is a settings failure at start (options validation,
    /// possibly several at once); null for anything else.
    /// </summary>
    public static IReadOnlyList<string>? Describe(Exception exception) => exception switch
    {
        OptionsValidationException options => options.Failures.SelectMany(Lines).ToArray(),
        AggregateException aggregate when aggregate.InnerExceptions.All(e => e is OptionsValidationException) =>
            aggregate.InnerExceptions.SelectMany(e => ((OptionsValidationException)e).Failures).SelectMany(Lines).ToArray(),
        _ => null,
    };

    private static IEnumerable<string> Lines(string failure) =>
        failure.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    internal static string Problem(string key, object? value, ValidationAttribute attribute, string member) => attribute switch
    {
        RequiredAttribute => $"{key} is required.",
        RangeAttribute range => $"{key} = {Show(value)} is out of range: allowed {Show(range.Minimum)} to {Show(range.Maximum)}.",
        MinLengthAttribute min => $"{key} = {Show(value)} is too short: at least {min.Length} items or characters.",
        MaxLengthAttribute max => $"{key} = {Show(value)} is too long: at most {max.Length} items or characters.",
        StringLengthAttribute length => $"{key} = {Show(value)} must be {length.MinimumLength} to {length.MaximumLength} characters long.",
        _ => $"{key} = {Show(value)}: {attribute.FormatErrorMessage(member)}",
    };

    private static string Show(object? value) => value switch
    {
        null => "(empty)",
        string s => $"'{s}'",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? string.Empty,
    };
}

/// <summary>Checks each public property's validation attributes (what <c>ValidateDataAnnotations</c> checks) and class-level ones.</summary>
internal sealed class AnnotatedSettingsValidator<T>(string? name, string sectionName) : IValidateOptions<T>
    where T : class
{
    private static readonly (PropertyInfo Property, ValidationAttribute[] Attributes)[] Annotated =
        [.. typeof(T).GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.GetIndexParameters().Length == 0)
            .Select(p => (p, p.GetCustomAttributes<ValidationAttribute>(inherit: true).ToArray()))
            .Where(p => p.Item2.Length > 0)];

    private static readonly ValidationAttribute[] ClassAttributes = [.. typeof(T).GetCustomAttributes<ValidationAttribute>(inherit: true)];

    public ValidateOptionsResult Validate(string? optionsName, T options)
    {
        if (name is not null && name != optionsName)
        {
            return ValidateOptionsResult.Skip;
        }

        var errors = new List<string>();
        foreach (var (property, attributes) in Annotated)
        {
            var value = property.GetValue(options);
            var context = new ValidationContext(options) { MemberName = property.Name, DisplayName = property.Name };
            foreach (var attribute in attributes)
            {
                if (attribute.GetValidationResult(value, context) is not null)
                {
                    errors.Add(SettingsValidation.Problem($"{sectionName}:{property.Name}", value, attribute, property.Name));
                    break; // one line per key
                }
            }
        }

        // Class-level attributes and IValidatableObject, in their own words (not TryValidateObject: it would check the
        // properties' [Required] a second time and report those keys twice).
        var whole = new ValidationContext(options);
        foreach (var attribute in ClassAttributes)
        {
            if (attribute.GetValidationResult(options, whole) is { } result)
            {
                errors.Add($"{sectionName}: {result.ErrorMessage}");
            }
        }

        if (options is IValidatableObject validatable)
        {
            errors.AddRange(validatable.Validate(whole).Select(r => $"{sectionName}: {r.ErrorMessage}"));
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
