// Benchmarks print figures; see README "Figures". Filled in by the benchmark work.
Console.WriteLine("no benchmarks yet");
