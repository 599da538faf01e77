using System.Formats.Tar;
using Docker.DotNet;
using Docker.DotNet.Models;

namespace HaKubeLab.Runtime;

/// <summary>Thin adapter: writes a file into a container through the Docker API (a one-file tar archive).</summary>
public static class DockerFiles
{
    public static async Task WriteAsync(IDockerClient docker, string container, string path, string content, UnixFileMode mode, CancellationToken cancellationToken)
    {
        using var archive = new MemoryStream();
        await using (var writer = new TarWriter(archive, TarEntryFormat.Pax, leaveOpen: true))
        {
            var entry = new PaxTarEntry(TarEntryType.RegularFile, Path.GetFileName(path))
            {
                Mode = mode,
                DataStream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(content)),
                ModificationTime = DateTimeOffset.UtcNow,
            };
            await writer.WriteEntryAsync(entry, cancellationToken).ConfigureAwait(false);
        }
        archive.Position = 0;
        var dir = Path.GetDirectoryName(path) ?? "/";
        await DockerExec.RunAsync(docker, container, ["mkdir", "-p", dir], cancellationToken).ConfigureAwait(false);
        await docker.Containers.ExtractArchiveToContainerAsync(container, new CopyToContainerParameters { Path = dir }, archive, cancellationToken).ConfigureAwait(false);
    }
}
