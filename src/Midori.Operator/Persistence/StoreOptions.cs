using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Midori.Operator.Persistence;

/// <summary>Store limits and behaviour, bound from the <c>Store</c> section. The connection string is <c>ConnectionStrings:Midori</c>.</summary>
public sealed class StoreOptions
{
    public const string SectionName = "Store";

    /// <summary>Most files one project (snapshot or working copy) may hold.</summary>
    [Range(1, 1_000_000)]
    public int MaxFilesPerProject { get; set; } = 10_000;

    /// <summary>Largest single file, in bytes.</summary>
    [Range(typeof(long), "1", "536870912")]
    public long MaxFileBytes { get; set; } = 10 * 1024 * 1024;

    /// <summary>Largest total size of one project's files, in bytes.</summary>
    [Range(typeof(long), "1", "17179869184")]
    public long MaxProjectBytes { get; set; } = 512L * 1024 * 1024;

    /// <summary>How long a store call waits for the schema migration at start before it reports the store unavailable (short: reconciles wait on it).</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan ReadyTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Session/recreation rows waiting to be written; beyond this, new rows are dropped (and logged) rather than block reconciles.</summary>
    [Range(16, 1_000_000)]
    public int HistoryQueueCapacity { get; set; } = 4096;

    /// <summary>Attempts per session/recreation row before it is given up (and logged).</summary>
    [Range(1, 20)]
    public int HistoryWriteAttempts { get; set; } = 5;
}

internal sealed class StoreOptionsValidator : IValidateOptions<StoreOptions>
{
    public ValidateOptionsResult Validate(string? name, StoreOptions options) =>
        options.MaxFileBytes > options.MaxProjectBytes
            ? ValidateOptionsResult.Fail("Store:MaxFileBytes must not exceed Store:MaxProjectBytes.")
            : ValidateOptionsResult.Success;
}
