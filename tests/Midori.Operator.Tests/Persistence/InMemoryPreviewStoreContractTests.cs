using Midori.Operator.Persistence;
using Midori.Operator.Testing.Fakes;

namespace Midori.Operator.Tests.Persistence;

/// <summary>The same store contract against the in-memory fake the API tests use, so the fake cannot drift from PostgreSQL.</summary>
public sealed class InMemoryPreviewStoreContractTests : PreviewStoreContractTests
{
    protected override Task<IPreviewStore> CreateStoreAsync() =>
        Task.FromResult<IPreviewStore>(new InMemoryPreviewStore(Time, Limits.MaxFilesPerProject, Limits.MaxProjectBytes, Limits.MaxFileBytes));
}
