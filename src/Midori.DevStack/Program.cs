using Midori.DevStack;

// One command, no cluster: dotnet run --project src/Midori.DevStack
await using var stack = await DevStackHost.StartAsync(args);
Console.WriteLine(stack.Banner());
await stack.WaitForShutdownAsync();
return 0;
