// Seeds for tests/fuzz made with Bouncy Castle (Debian's libbcpkix-java, 1.72): a PKCS#10
// request, CMP ir (CRMF, signature POP), p10cr and genm MAC-protected with PasswordBasedMac
// (reference "1234", secret "s3cret"), and OCSP requests with SHA-1 and SHA-256 CertIDs
// (Bouncy Castle writes no NULL hash parameters), one with a nonce.
//
//   java FuzzSeeds OUTDIR      writes bc.csr, bc-ir.der, bc-p10cr.der, bc-genm.der,
//                              bc-ocsp-sha1.der, bc-ocsp-sha256.der

import java.io.FileOutputStream;
import java.math.BigInteger;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.SecureRandom;
import java.security.Security;
import java.security.spec.ECGenParameterSpec;
import java.util.Date;
import org.bouncycastle.asn1.ASN1ObjectIdentifier;
import org.bouncycastle.asn1.DEROctetString;
import org.bouncycastle.asn1.cmp.GenMsgContent;
import org.bouncycastle.asn1.cmp.InfoTypeAndValue;
import org.bouncycastle.asn1.cmp.PKIBody;
import org.bouncycastle.asn1.crmf.CertReqMessages;
import org.bouncycastle.asn1.nist.NISTObjectIdentifiers;
import org.bouncycastle.asn1.ocsp.OCSPObjectIdentifiers;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.AlgorithmIdentifier;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.Extensions;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.cmp.ProtectedPKIMessageBuilder;
import org.bouncycastle.cert.crmf.PKMACBuilder;
import org.bouncycastle.cert.crmf.jcajce.JcaCertificateRequestMessageBuilder;
import org.bouncycastle.cert.crmf.jcajce.JcePKMACValuesCalculator;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.cert.ocsp.CertificateID;
import org.bouncycastle.cert.ocsp.OCSPReqBuilder;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.DigestCalculatorProvider;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.operator.jcajce.JcaDigestCalculatorProviderBuilder;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder;

public class FuzzSeeds {
    private static final SecureRandom RANDOM = new SecureRandom();

    public static void main(String[] args) throws Exception {
        Security.addProvider(new BouncyCastleProvider());
        String out = args[0];
        KeyPairGenerator generator = KeyPairGenerator.getInstance("EC", "BC");
        generator.initialize(new ECGenParameterSpec("P-256"));
        KeyPair key = generator.generateKeyPair();
        ContentSigner signer =
            new JcaContentSignerBuilder("SHA256withECDSA").setProvider("BC").build(key.getPrivate());
        X500Name subject = new X500Name("CN=bc-seed,O=Fuzz");

        PKCS10CertificationRequest csr =
            new JcaPKCS10CertificationRequestBuilder(subject, key.getPublic()).build(signer);
        write(out, "bc.csr", csr.getEncoded());

        JcaCertificateRequestMessageBuilder crmf =
            new JcaCertificateRequestMessageBuilder(BigInteger.ZERO);
        crmf.setSubject(subject);
        crmf.setPublicKey(key.getPublic());
        crmf.setProofOfPossessionSigningKeySigner(
            new JcaContentSignerBuilder("SHA256withECDSA").setProvider("BC").build(key.getPrivate()));
        CertReqMessages requests = new CertReqMessages(crmf.build().toASN1Structure());
        write(out, "bc-ir.der", protect(subject, new PKIBody(PKIBody.TYPE_INIT_REQ, requests)));
        write(out, "bc-p10cr.der",
              protect(subject, new PKIBody(PKIBody.TYPE_P10_CERT_REQ, csr.toASN1Structure())));
        GenMsgContent caCerts = new GenMsgContent(
            new InfoTypeAndValue(new ASN1ObjectIdentifier("1.3.6.1.5.5.7.4.17")));
        write(out, "bc-genm.der", protect(subject, new PKIBody(PKIBody.TYPE_GEN_MSG, caCerts)));

        X509CertificateHolder issuer = new JcaX509v3CertificateBuilder(
            subject, BigInteger.ONE, new Date(), new Date(System.currentTimeMillis() + 86400000L),
            subject, key.getPublic()).build(signer);
        DigestCalculatorProvider digests =
            new JcaDigestCalculatorProviderBuilder().setProvider("BC").build();
        OCSPReqBuilder sha1 = new OCSPReqBuilder();
        sha1.addRequest(new CertificateID(
            digests.get(CertificateID.HASH_SHA1), issuer, BigInteger.valueOf(0x1234)));
        sha1.setRequestExtensions(new Extensions(new Extension(
            OCSPObjectIdentifiers.id_pkix_ocsp_nonce, false,
            new DEROctetString(new DEROctetString(nonce()).getEncoded()))));  // RFC 8954 2.1
        write(out, "bc-ocsp-sha1.der", sha1.build().getEncoded());
        OCSPReqBuilder sha256 = new OCSPReqBuilder();
        sha256.addRequest(new CertificateID(
            digests.get(new AlgorithmIdentifier(NISTObjectIdentifiers.id_sha256)), issuer,
            BigInteger.valueOf(0x10)));
        write(out, "bc-ocsp-sha256.der", sha256.build().getEncoded());
    }

    private static byte[] protect(X500Name subject, PKIBody body) throws Exception {
        ProtectedPKIMessageBuilder builder =
            new ProtectedPKIMessageBuilder(new GeneralName(subject), new GeneralName(new X500Name("CN=CA")))
                .setTransactionID(nonce()).setSenderNonce(nonce()).setMessageTime(new Date())
                .setSenderKID("1234".getBytes("US-ASCII")).setBody(body);
        PKMACBuilder mac = new PKMACBuilder(new JcePKMACValuesCalculator().setProvider("BC"));
        return builder.build(mac.build("s3cret".toCharArray())).toASN1Structure().getEncoded();
    }

    private static byte[] nonce() {
        byte[] value = new byte[16];
        RANDOM.nextBytes(value);
        return value;
    }

    private static void write(String folder, String name, byte[] data) throws Exception {
        try (FileOutputStream stream = new FileOutputStream(folder + "/" + name)) {
            stream.write(data);
        }
    }
}
