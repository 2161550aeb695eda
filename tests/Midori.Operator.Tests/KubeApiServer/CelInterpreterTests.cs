using Midori.DevApiServer.Cel;

namespace Midori.Operator.Tests.KubeApiServer;

public sealed class CelInterpreterTests
{
    private static readonly Dictionary<string, object?> Variables = new()
    {
        ["self"] = new Dictionary<string, object?>
        {
            ["name"] = "web-1",
            ["size"] = 3L,
            ["ratio"] = 0.5,
            ["tags"] = new List<object?> { "a", "b", "c" },
            ["items"] = new List<object?>
            {
                new Dictionary<string, object?> { ["path"] = "a.txt", ["n"] = 1L },
                new Dictionary<string, object?> { ["path"] = "b/c.txt", ["n"] = 2L },
            },
            ["labels"] = new Dictionary<string, object?> { ["app"] = "web" },
        },
    };

    [Theory]
    [InlineData("self.size == 3")]
    [InlineData("self.size + 2 * 3 == 9 && (self.size + 2) * 3 == 15")]
    [InlineData("self.size / 2 == 1 && self.size % 2 == 1 && -self.size == -3")]
    [InlineData("self.ratio < 1.0 && self.ratio >= 0.5 && self.size > self.ratio")]
    [InlineData("self.name != 'web-2' && self.name == \"web-1\"")]
    [InlineData("'it\\'s' == \"it's\" && '\\x41\\u00e9' == 'Aé' && r'\\d' == '\\\\d'")]
    [InlineData("!false && true || false")]
    [InlineData("self.size > 10 ? false : true")]
    [InlineData("'b' in self.tags && !('z' in self.tags) && 'app' in self.labels")]
    [InlineData("size(self.tags) == 3 && self.tags.size() == 3 && self.name.size() == 5")]
    [InlineData("self.name.startsWith('web') && self.name.endsWith('-1') && self.name.contains('b-') && self.name.matches('^[a-z]+-[0-9]$')")]
    [InlineData("has(self.name) && !has(self.missing) && has(self.labels.app)")]
    [InlineData("self.tags.all(t, t.size() == 1) && self.tags.exists(t, t == 'c') && self.tags.exists_one(t, t == 'a')")]
    [InlineData("self.items.filter(i, i.n > 1).size() == 1 && self.items.map(i, i.n) == [1, 2] && self.items.map(i, i.n > 1, i.path) == ['b/c.txt']")]
    [InlineData("self.tags[0] == 'a' && self.items[1].path == 'b/c.txt' && self.labels['app'] == 'web'")]
    [InlineData("[1, 2] + [3] == [1, 2, 3] && 'a' + 'b' == 'ab' && {'k': 1}['k'] == 1")]
    [InlineData("null == null && self.size != null && 1 == 1.0 && 2u > 1u")]
    [InlineData("int('42') == 42 && string(42) == '42' && double(1) == 1.0 && 0x10 == 16")]
    [InlineData("self.labels.all(k, k == 'app')")]
    [InlineData("!(false && self.missing == 1)")]
    [InlineData("self.missing == 1 || true")]
    public void Evaluate_TrueExpression_ReturnsTrue(string expression)
    {
        // arrange
        var program = CelProgram.Compile(expression);

        // act
        var result = program.Evaluate(Variables);

        // assert
        Assert.Equal(true, result);
    }

    [Theory]
    [InlineData("self.missing == 1", "no such key: missing")]
    [InlineData("self.tags[5] == 'a'", "index out of bounds: 5")]
    [InlineData("self.size / 0 == 1", "division by zero")]
    [InlineData("self.name + 1 == 'x'", "no such overload")]
    [InlineData("9223372036854775807 + 1 > 0", "integer overflow")]
    public void Evaluate_InvalidAccess_ThrowsCelError(string expression, string expectedMessage)
    {
        // arrange
        var program = CelProgram.Compile(expression);

        // act
        var error = Assert.Throws<CelException>(() => program.Evaluate(Variables));

        // assert
        Assert.Contains(expectedMessage, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("self.size ==")]
    [InlineData("has(self)")]
    [InlineData("self.tags.all(1, true)")]
    [InlineData("'unterminated")]
    public void Compile_MalformedExpression_ThrowsSyntaxError(string expression)
    {
        // act
        var error = Assert.Throws<CelException>(() => CelProgram.Compile(expression));

        // assert
        Assert.StartsWith("Syntax error", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("self == oldSelf", true)]
    [InlineData("self.items.all(oldSelf, oldSelf.n > 0)", false)]
    [InlineData("self.size <= 10", false)]
    public void Compile_Rule_DetectsTransitionRules(string expression, bool expected)
    {
        // act
        var program = CelProgram.Compile(expression);

        // assert
        Assert.Equal(expected, program.ReferencesOldSelf);
    }
}
