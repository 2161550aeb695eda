namespace Midori.Operator.Runtime;

/// <summary>
/// A loop that runs only while this replica leads, beside the reconcile workers: <see cref="OperatorRuntimeHost"/>
/// starts it at the beginning of every leadership term and cancels <c>term</c> when the term ends (leadership lost
/// or host stopping), so no two replicas run it at once and a term's loop is over before the next one starts.
/// </summary>
public interface ILeaderController
{
    /// <summary>Name for logs.</summary>
    string Name { get; }

    /// <summary>Runs until <paramref name="term"/> is cancelled; throwing ends it for this term (logged).</summary>
    Task RunAsync(CancellationToken term);
}
