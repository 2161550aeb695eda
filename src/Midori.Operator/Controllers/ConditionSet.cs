using k8s.Models;

namespace Midori.Operator.Controllers;

/// <summary>
/// Upserts status conditions the Kubernetes way (cert-manager SetCertificateCondition): every condition records the
/// generation it was computed for, and LastTransitionTime moves only when the True/False/Unknown value flips.
/// </summary>
internal static class ConditionSet
{
    public static void Set(IList<V1Condition> conditions, string type, bool? status, string reason, string message, long generation, DateTimeOffset now)
    {
        var value = status switch { true => "True", false => "False", null => "Unknown" };
        var existing = conditions.FirstOrDefault(c => c.Type == type);
        if (existing is null)
        {
            conditions.Add(new V1Condition
            {
                Type = type,
                Status = value,
                Reason = reason,
                Message = message,
                ObservedGeneration = generation,
                LastTransitionTime = now.UtcDateTime,
            });
            return;
        }

        if (existing.Status != value)
        {
            existing.LastTransitionTime = now.UtcDateTime;
        }

        existing.Status = value;
        existing.Reason = reason;
        existing.Message = message;
        existing.ObservedGeneration = generation;
    }

    public static V1Condition? Find(IEnumerable<V1Condition>? conditions, string type) =>
        conditions?.FirstOrDefault(c => c.Type == type);

    /// <summary>Keeps <c>Ready</c> first (kstatus tools and humans read it first), the rest in a stable order.</summary>
    public static List<V1Condition> Ordered(IEnumerable<V1Condition> conditions, IReadOnlyList<string> order) =>
        [.. conditions.OrderBy(c => IndexOf(order, c.Type)).ThenBy(c => c.Type, StringComparer.Ordinal)];

    private static int IndexOf(IReadOnlyList<string> order, string type)
    {
        for (var i = 0; i < order.Count; i++)
        {
            if (order[i] == type)
            {
                return i;
            }
        }

        return int.MaxValue;
    }
}
