namespace Midori.Operator.Testing;

/// <summary>
/// The bound of every wait for something that is expected to happen. It is reached only when the thing does not
/// happen, so it costs nothing on success and is generous on purpose: CI runs on 2 cores shared with other builds,
/// where a step that takes milliseconds on a quiet machine can take seconds.
/// </summary>
public static class TestWaits
{
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);
}
