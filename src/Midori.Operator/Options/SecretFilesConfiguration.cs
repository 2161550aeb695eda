namespace Midori.Operator.Options;

/// <summary>
/// Secrets as files instead of environment variables (which every child process and <c>/proc/&lt;pid&gt;/environ</c>
/// reader sees). Two conventions, both layered over environment variables so a file wins:
/// <list type="bullet">
/// <item>a directory (<c>MIDORI_SECRETS_DIR</c>, default <c>/var/run/midori/secrets</c> when it exists) where each file
/// is one setting, named like the environment variable (<c>ConnectionStrings__Midori</c>, <c>Providers__E2B__ApiKey</c>,
/// <c>Api__Tokens__0__Token</c>): a Kubernetes Secret mounted as a volume, one key per file;</item>
/// <item><c>&lt;NAME&gt;_FILE</c> variables: <c>ConnectionStrings__Midori_FILE=/path</c> sets
/// <c>ConnectionStrings:Midori</c> to the file's content (the Docker-secrets convention). Only setting-shaped names
/// (containing <c>__</c>) and the providers' own variables (<c>E2B_API_KEY</c>, <c>DAYTONA_API_KEY</c>) count, so an
/// unrelated <c>*_FILE</c> variable of the environment (a tool's config path) is never read.</item>
/// </list>
/// One trailing newline is trimmed (editors and <c>echo</c> add it). A named file that cannot be read fails startup
/// with a clear message rather than leaving the setting silently empty.
/// </summary>
public static class SecretFilesConfiguration
{
    public const string DirectoryVariable = "MIDORI_SECRETS_DIR";
    public const string DefaultDirectory = "/var/run/midori/secrets";
    public const string FileSuffix = "_FILE";

    private static readonly HashSet<string> PlainSecretVariables = new(StringComparer.Ordinal) { "E2B_API_KEY", "DAYTONA_API_KEY" };

    public static IConfigurationBuilder AddSecretFiles(this IConfigurationBuilder configuration, Func<string, string?>? environment = null, System.Collections.IDictionary? variables = null)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        environment ??= Environment.GetEnvironmentVariable;
        variables ??= Environment.GetEnvironmentVariables();

        var directory = environment(DirectoryVariable);
        var explicitDirectory = !string.IsNullOrWhiteSpace(directory);
        directory = explicitDirectory ? directory : DefaultDirectory;
        if (explicitDirectory && !Directory.Exists(directory))
        {
            throw new InvalidOperationException($"{DirectoryVariable} is '{directory}', which is not a directory.");
        }

        var settings = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        if (Directory.Exists(directory))
        {
            // Kubernetes Secret volumes hold ..data symlinks and dot-directories next to the keys: only plain names count.
            foreach (var file in Directory.EnumerateFiles(directory!))
            {
                var name = Path.GetFileName(file);
                if (!name.StartsWith('.'))
                {
                    settings[ToKey(name)] = Read(file, $"{directory}/{name}");
                }
            }
        }

        foreach (System.Collections.DictionaryEntry entry in variables)
        {
            if (entry.Key is string name && name.EndsWith(FileSuffix, StringComparison.Ordinal) && entry.Value is string path && path.Length > 0
                && name[..^FileSuffix.Length] is { Length: > 0 } setting
                && (setting.Contains("__", StringComparison.Ordinal) || PlainSecretVariables.Contains(setting)))
            {
                settings[ToKey(setting)] = Read(path, name);
            }
        }

        return settings.Count == 0 ? configuration : configuration.AddInMemoryCollection(settings);
    }

    private static string ToKey(string name) => name.Replace("__", ConfigurationPath.KeyDelimiter, StringComparison.Ordinal);

    private static string Read(string path, string source)
    {
        try
        {
            var text = File.ReadAllText(path);
            return text.EndsWith("\r\n", StringComparison.Ordinal) ? text[..^2] : text.EndsWith('\n') ? text[..^1] : text;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // never echo the content; the path is not secret
            throw new InvalidOperationException($"Could not read the secret file for {source} ('{path}'): {ex.Message}", ex);
        }
    }
}
