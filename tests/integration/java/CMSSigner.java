// A document signer on Bouncy Castle's CMS API (Debian's libbcpkix-java), used by
// tests/integration/test_confirmation_bouncycastle.py as the third-party signer whose CMS
// SignedData (RFC 5652) the confirmation service checks.
//
//   java CMSSigner KEY.pem CERT.pem DOCUMENT OUT.p7s detached|attached
//
// KEY.pem is an unencrypted PKCS#8 key (EC or RSA). The SignerInfo is made by
// JcaSimpleSignerInfoGeneratorBuilder: signed attributes contentType, messageDigest,
// signingTime and cmsAlgorithmProtection (RFC 6211), SHA-256 with ECDSA or RSA.

import java.io.FileOutputStream;
import java.io.FileReader;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.PrivateKey;
import java.security.Security;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.Collections;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.cert.jcajce.JcaCertStore;
import org.bouncycastle.cms.CMSProcessableByteArray;
import org.bouncycastle.cms.CMSSignedData;
import org.bouncycastle.cms.CMSSignedDataGenerator;
import org.bouncycastle.cms.jcajce.JcaSimpleSignerInfoGeneratorBuilder;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;

public class CMSSigner {
    public static void main(String[] args) throws Exception {
        Security.addProvider(new BouncyCastleProvider());
        PrivateKey key;
        try (PEMParser parser = new PEMParser(new FileReader(args[0]))) {
            key = new JcaPEMKeyConverter().setProvider("BC")
                .getPrivateKey((PrivateKeyInfo) parser.readObject());
        }
        X509Certificate cert;
        try (var in = Files.newInputStream(Paths.get(args[1]))) {
            cert = (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
        }
        byte[] document = Files.readAllBytes(Paths.get(args[2]));
        String algorithm = key.getAlgorithm().startsWith("EC") ? "SHA256withECDSA" : "SHA256withRSA";
        CMSSignedDataGenerator generator = new CMSSignedDataGenerator();
        generator.addSignerInfoGenerator(
            new JcaSimpleSignerInfoGeneratorBuilder().setProvider("BC").build(algorithm, key, cert));
        generator.addCertificates(new JcaCertStore(Collections.singletonList(cert)));
        boolean attached = args[4].equals("attached");
        CMSSignedData signed = generator.generate(new CMSProcessableByteArray(document), attached);
        try (FileOutputStream out = new FileOutputStream(args[3])) {
            out.write(signed.getEncoded("DER"));
        }
    }
}
