using Midori.Operator;

var builder = WebApplication.CreateBuilder(args);
builder.AddMidoriOperator();

var app = builder.Build();
app.MapMidoriEndpoints();
app.Run();

/// <summary>Entry point; public so WebApplicationFactory-based tests can host it.</summary>
public partial class Program;
