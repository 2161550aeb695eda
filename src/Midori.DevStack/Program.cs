namespace Midori.DevStack;

/// <summary>One command, no cluster: <c>dotnet run --project src/Midori.DevStack</c>.</summary>
internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        await using var stack = await DevStackHost.StartAsync(args);
        Console.WriteLine(stack.Banner());
        await stack.WaitForShutdownAsync();
        return 0;
    }
}
