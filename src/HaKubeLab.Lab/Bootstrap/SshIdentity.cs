using System.Security.Cryptography;
using System.Text;

namespace HaKubeLab.Bootstrap;

/// <summary>A lab's SSH key pair: generated per lab, kept in the lab's folder (0600), never baked into an image.</summary>
public sealed record SshIdentity(string PrivateKeyPem, string AuthorizedKey)
{
    public static SshIdentity Generate(string comment)
    {
        using var rsa = RSA.Create(3072);
        var p = rsa.ExportParameters(includePrivateParameters: false);
        // RFC 4253 public key blob: string "ssh-rsa", mpint e, mpint n.
        using var blob = new MemoryStream();
        WriteString(blob, Encoding.ASCII.GetBytes("ssh-rsa"));
        WriteString(blob, Mpint(p.Exponent!));
        WriteString(blob, Mpint(p.Modulus!));
        return new SshIdentity(rsa.ExportRSAPrivateKeyPem() + "\n", $"ssh-rsa {Convert.ToBase64String(blob.ToArray())} {comment}");
    }

    /// <summary>Loads the pair kept at <paramref name="privateKeyPath"/> (and .pub), creating it when missing.</summary>
    public static SshIdentity LoadOrCreate(string privateKeyPath, string comment)
    {
        var pub = privateKeyPath + ".pub";
        if (File.Exists(privateKeyPath) && File.Exists(pub))
            return new SshIdentity(File.ReadAllText(privateKeyPath), File.ReadAllText(pub).Trim());
        var id = Generate(comment);
        Runtime.LabPaths.WriteAtomically(privateKeyPath, id.PrivateKeyPem, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        Runtime.LabPaths.WriteAtomically(pub, id.AuthorizedKey + "\n");
        return id;
    }

    private static byte[] Mpint(byte[] unsigned) => unsigned.Length > 0 && (unsigned[0] & 0x80) != 0 ? [0, .. unsigned] : unsigned;

    private static void WriteString(Stream s, byte[] data)
    {
        Span<byte> len = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(len, data.Length);
        s.Write(len);
        s.Write(data);
    }
}
