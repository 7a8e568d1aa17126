// A CMP client we did not write the protocol code of: Bouncy Castle's CMP and CRMF API
// (Debian's libbcpkix-java 1.72), over HTTP (RFC 6712), checking every answer as a careful
// client does: the protection verifies (the MAC under the shared secret, or the signature of
// the first extraCerts certificate, which must be issued by the CA given), transactionID is
// ours, recipNonce is our senderNonce (RFC 9483 3.1), and the body is what was asked for.
//
//   java CMPClient ir-mac  URL CAFILE OUTDIR REF SECRET SUBJECT
//        ir (CRMF, signature POP, certReqId 0), MAC-protected (PasswordBasedMac SHA-256,
//        HMAC-SHA256), then certConf; writes OUTDIR/cert.der and OUTDIR/key.der (PKCS#8).
//   java CMPClient cr-sig  URL CAFILE OUTDIR KEYDER CERTDER SUBJECT
//        cr signed by the holder's key with its certificate in extraCerts, then certConf.
//   java CMPClient kur-sig URL CAFILE OUTDIR KEYDER CERTDER
//        kur for the same subject with a new key (RFC 9483 4.1.3), then certConf.
//   java CMPClient rr-sig  URL CAFILE KEYDER CERTDER REASON
//        rr of the holder's own certificate (RFC 9483 4.2), signed by it.
//   java CMPClient genm-mac URL CAFILE REF SECRET
//        genm caCerts (RFC 9483 4.3.1); prints how many certificates came.
//
// Each step prints one line ("ip accepted", "pkiconf", "rp accepted", "genp caCerts 1");
// any refusal or failed check prints the reason and exits 1.

import java.io.ByteArrayOutputStream;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.math.BigInteger;
import java.net.HttpURLConnection;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.Security;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Arrays;
import java.util.Date;
import org.bouncycastle.asn1.ASN1ObjectIdentifier;
import org.bouncycastle.asn1.ASN1Sequence;
import org.bouncycastle.asn1.DERNull;
import org.bouncycastle.asn1.DEROctetString;
import org.bouncycastle.asn1.cmp.CMPCertificate;
import org.bouncycastle.asn1.cmp.CertRepMessage;
import org.bouncycastle.asn1.cmp.CertResponse;
import org.bouncycastle.asn1.cmp.ErrorMsgContent;
import org.bouncycastle.asn1.cmp.GenMsgContent;
import org.bouncycastle.asn1.cmp.GenRepContent;
import org.bouncycastle.asn1.cmp.InfoTypeAndValue;
import org.bouncycastle.asn1.cmp.PBMParameter;
import org.bouncycastle.asn1.cmp.PKIBody;
import org.bouncycastle.asn1.cmp.PKIHeader;
import org.bouncycastle.asn1.cmp.PKIStatus;
import org.bouncycastle.asn1.cmp.PKIStatusInfo;
import org.bouncycastle.asn1.cmp.RevDetails;
import org.bouncycastle.asn1.cmp.RevRepContent;
import org.bouncycastle.asn1.cmp.RevReqContent;
import org.bouncycastle.asn1.crmf.CertReqMessages;
import org.bouncycastle.asn1.crmf.CertTemplateBuilder;
import org.bouncycastle.asn1.nist.NISTObjectIdentifiers;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.AlgorithmIdentifier;
import org.bouncycastle.asn1.x509.CRLReason;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.Extensions;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.SubjectKeyIdentifier;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.cmp.CertificateConfirmationContent;
import org.bouncycastle.cert.cmp.CertificateConfirmationContentBuilder;
import org.bouncycastle.cert.cmp.GeneralPKIMessage;
import org.bouncycastle.cert.cmp.ProtectedPKIMessage;
import org.bouncycastle.cert.cmp.ProtectedPKIMessageBuilder;
import org.bouncycastle.cert.crmf.PKMACBuilder;
import org.bouncycastle.cert.crmf.jcajce.JcaCertificateRequestMessageBuilder;
import org.bouncycastle.cert.crmf.jcajce.JcePKMACValuesCalculator;
import org.bouncycastle.cert.jcajce.JcaX509CertificateHolder;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.DigestCalculatorProvider;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.operator.jcajce.JcaContentVerifierProviderBuilder;
import org.bouncycastle.operator.jcajce.JcaDigestCalculatorProviderBuilder;

public class CMPClient {
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final String CA_CERTS = "1.3.6.1.5.5.7.4.17";  // RFC 9483 4.3.1

    private final String url;
    private final X509CertificateHolder ca;
    private final GeneralName recipient;
    // How requests are protected: a shared secret, or a key and its certificate.
    private String ref;
    private char[] secret;
    private PrivateKey key;
    private X509CertificateHolder certificate;
    private byte[] transactionId;
    private byte[] lastNonce;  // the server's senderNonce, our next recipNonce

    CMPClient(String url, String caFile) throws Exception {
        this.url = url;
        this.ca = new JcaX509CertificateHolder(readCertificate(caFile));
        this.recipient = new GeneralName(ca.getSubject());
    }

    public static void main(String[] args) throws Exception {
        Security.addProvider(new BouncyCastleProvider());
        CMPClient client = new CMPClient(args[1], args[2]);
        switch (args[0]) {
            case "ir-mac":
                client.useSecret(args[4], args[5]);
                client.enrol(PKIBody.TYPE_INIT_REQ, args[3], new X500Name(args[6]));
                break;
            case "cr-sig":
                client.useKey(args[4], args[5]);
                client.enrol(PKIBody.TYPE_CERT_REQ, args[3], new X500Name(args[6]));
                break;
            case "kur-sig":
                client.useKey(args[4], args[5]);
                client.enrol(PKIBody.TYPE_KEY_UPDATE_REQ, args[3], client.certificate.getSubject());
                break;
            case "rr-sig":
                client.useKey(args[3], args[4]);
                client.revoke(Integer.parseInt(args[5]));
                break;
            case "genm-mac":
                client.useSecret(args[3], args[4]);
                client.caCerts();
                break;
            default:
                fail("unknown operation " + args[0]);
        }
    }

    void useSecret(String ref, String secret) {
        this.ref = ref;
        this.secret = secret.toCharArray();
    }

    void useKey(String keyFile, String certificateFile) throws Exception {
        byte[] pkcs8 = Files.readAllBytes(Paths.get(keyFile));
        this.key = KeyFactory.getInstance("EC", "BC").generatePrivate(new PKCS8EncodedKeySpec(pkcs8));
        this.certificate = new X509CertificateHolder(Files.readAllBytes(Paths.get(certificateFile)));
    }

    // ir / cr / kur with a fresh P-256 key, then certConf.
    void enrol(int type, String outDir, X500Name subject) throws Exception {
        KeyPairGenerator generator = KeyPairGenerator.getInstance("EC", "BC");
        generator.initialize(new ECGenParameterSpec("P-256"));
        KeyPair newKey = generator.generateKeyPair();
        JcaCertificateRequestMessageBuilder crmf =
            new JcaCertificateRequestMessageBuilder(BigInteger.ZERO);  // RFC 9483 4.1.1: 0
        crmf.setSubject(subject);
        crmf.setPublicKey(newKey.getPublic());
        crmf.setProofOfPossessionSigningKeySigner(signer(newKey.getPrivate()));
        CertReqMessages requests = new CertReqMessages(crmf.build().toASN1Structure());
        transactionId = nonce();
        lastNonce = null;
        ProtectedPKIMessage answer = exchange(new PKIBody(type, requests));
        int expected = type == PKIBody.TYPE_INIT_REQ ? PKIBody.TYPE_INIT_REP
            : type == PKIBody.TYPE_CERT_REQ ? PKIBody.TYPE_CERT_REP : PKIBody.TYPE_KEY_UPDATE_REP;
        expectBody(answer, expected);
        CertRepMessage reply = CertRepMessage.getInstance(answer.getBody().getContent());
        CertResponse response = reply.getResponse()[0];
        if (!response.getCertReqId().getValue().equals(BigInteger.ZERO)) {
            fail("certReqId " + response.getCertReqId().getValue() + " is not the request's 0");
        }
        checkAccepted(response.getStatus());
        CMPCertificate issued = response.getCertifiedKeyPair().getCertOrEncCert().getCertificate();
        X509CertificateHolder holder = new X509CertificateHolder(issued.getX509v3PKCert());
        if (!holder.isSignatureValid(new JcaContentVerifierProviderBuilder().setProvider("BC")
                .build(ca.getSubjectPublicKeyInfo()))) {
            fail("the issued certificate is not signed by the CA");
        }
        if (!holder.getSubjectPublicKeyInfo().equals(
                org.bouncycastle.asn1.x509.SubjectPublicKeyInfo.getInstance(
                    newKey.getPublic().getEncoded()))) {
            fail("the issued certificate is not for our key");
        }
        System.out.println(bodyName(expected) + " " + statusName(response.getStatus()));
        write(outDir + "/cert.der", holder.getEncoded());
        write(outDir + "/key.der", newKey.getPrivate().getEncoded());

        DigestCalculatorProvider digests =
            new JcaDigestCalculatorProviderBuilder().setProvider("BC").build();
        CertificateConfirmationContent confirmation = new CertificateConfirmationContentBuilder()
            .addAcceptedCertificate(holder, BigInteger.ZERO).build(digests);
        ProtectedPKIMessage confirmed = exchange(
            new PKIBody(PKIBody.TYPE_CERT_CONFIRM, confirmation.toASN1Structure()));
        expectBody(confirmed, PKIBody.TYPE_CONFIRM);
        System.out.println("pkiconf");
    }

    // rr of our own certificate: certDetails with exactly issuer and serialNumber (4.2).
    void revoke(int reason) throws Exception {
        CertTemplateBuilder template = new CertTemplateBuilder()
            .setIssuer(certificate.getIssuer())
            .setSerialNumber(new org.bouncycastle.asn1.ASN1Integer(certificate.getSerialNumber()));
        Extensions reasons = new Extensions(new Extension(Extension.reasonCode, false,
            new DEROctetString(CRLReason.lookup(reason))));
        RevReqContent content = new RevReqContent(new RevDetails(template.build(), reasons));
        transactionId = nonce();
        lastNonce = null;
        ProtectedPKIMessage answer = exchange(new PKIBody(PKIBody.TYPE_REVOCATION_REQ, content));
        expectBody(answer, PKIBody.TYPE_REVOCATION_REP);
        PKIStatusInfo status = RevRepContent.getInstance(answer.getBody().getContent()).getStatus()[0];
        checkAccepted(status);
        System.out.println("rp " + statusName(status));
    }

    void caCerts() throws Exception {
        GenMsgContent content = new GenMsgContent(
            new InfoTypeAndValue(new ASN1ObjectIdentifier(CA_CERTS)));
        transactionId = nonce();
        lastNonce = null;
        ProtectedPKIMessage answer = exchange(new PKIBody(PKIBody.TYPE_GEN_MSG, content));
        expectBody(answer, PKIBody.TYPE_GEN_REP);
        InfoTypeAndValue[] items = GenRepContent.getInstance(answer.getBody().getContent()).toInfoTypeAndValueArray();
        if (items.length != 1 || !items[0].getInfoType().getId().equals(CA_CERTS)) {
            fail("genp does not answer caCerts alone");
        }
        ASN1Sequence certificates = ASN1Sequence.getInstance(items[0].getInfoValue());
        boolean ours = false;
        for (int i = 0; i < certificates.size(); i++) {
            CMPCertificate one = CMPCertificate.getInstance(certificates.getObjectAt(i));
            ours |= new X509CertificateHolder(one.getX509v3PKCert()).equals(ca);
        }
        if (!ours) {
            fail("caCerts does not hold the CA certificate");
        }
        System.out.println("genp caCerts " + certificates.size());
    }

    // One request out, one answer in, checked (RFC 9483 3.1, 3.2, 3.3).
    ProtectedPKIMessage exchange(PKIBody body) throws Exception {
        byte[] senderNonce = nonce();
        GeneralName sender = certificate != null ? new GeneralName(certificate.getSubject())
            : new GeneralName(new X500Name("CN=" + ref));
        ProtectedPKIMessageBuilder builder = new ProtectedPKIMessageBuilder(sender, recipient)
            .setTransactionID(transactionId).setSenderNonce(senderNonce)
            .setMessageTime(new Date()).setBody(body);
        if (lastNonce != null) {
            builder.setRecipNonce(lastNonce);
        }
        ProtectedPKIMessage request;
        if (secret != null) {
            builder.setSenderKID(ref.getBytes("UTF-8"));
            request = builder.build(mac().build(secret));
        } else {
            builder.setSenderKID(SubjectKeyIdentifier.fromExtensions(
                certificate.getExtensions()).getKeyIdentifier());
            builder.addCMPCertificate(certificate);
            request = builder.build(signer(key));
        }
        byte[] answerBytes = post(request.toASN1Structure().getEncoded());
        ProtectedPKIMessage answer = new ProtectedPKIMessage(new GeneralPKIMessage(answerBytes));
        PKIHeader header = answer.getHeader();
        if (header.getProtectionAlg() == null) {
            fail("unprotected answer: " + describe(answer));
        }
        if (secret != null) {
            if (!answer.hasPasswordBasedMacProtection() || !answer.verify(mac(), secret)) {
                fail("the answer's MAC does not verify");
            }
        } else {
            X509CertificateHolder[] certificates = answer.getCertificates();
            if (certificates.length == 0) {
                fail("a signed answer without its certificate in extraCerts");
            }
            if (!certificates[0].isSignatureValid(new JcaContentVerifierProviderBuilder()
                    .setProvider("BC").build(ca.getSubjectPublicKeyInfo()))) {
                fail("the answer's signer is not certified by the CA");
            }
            if (!answer.verify(new JcaContentVerifierProviderBuilder().setProvider("BC")
                    .build(certificates[0]))) {
                fail("the answer's signature does not verify");
            }
        }
        if (!Arrays.equals(header.getTransactionID().getOctets(), transactionId)) {
            fail("the answer carries another transactionID");
        }
        if (header.getRecipNonce() == null
                || !Arrays.equals(header.getRecipNonce().getOctets(), senderNonce)) {
            fail("the answer's recipNonce is not our senderNonce");
        }
        if (header.getSenderNonce() == null || header.getSenderNonce().getOctets().length < 16) {
            fail("the answer's senderNonce is missing or short");
        }
        lastNonce = header.getSenderNonce().getOctets();
        return answer;
    }

    // PasswordBasedMac with SHA-256 and HMAC-SHA256 (RFC 9481 6.1), 10 000 iterations.
    static PKMACBuilder mac() {
        byte[] salt = new byte[16];
        RANDOM.nextBytes(salt);
        return new PKMACBuilder(new JcePKMACValuesCalculator().setProvider("BC")).setParameters(
            new PBMParameter(salt, new AlgorithmIdentifier(NISTObjectIdentifiers.id_sha256), 10000,
                new AlgorithmIdentifier(PKCSObjectIdentifiers.id_hmacWithSHA256, DERNull.INSTANCE)));
    }

    static ContentSigner signer(PrivateKey key) throws Exception {
        return new JcaContentSignerBuilder("SHA256withECDSA").setProvider("BC").build(key);
    }

    byte[] post(byte[] request) throws Exception {
        HttpURLConnection connection = (HttpURLConnection) new URL(url).openConnection();
        connection.setRequestMethod("POST");
        connection.setDoOutput(true);
        connection.setRequestProperty("Content-Type", "application/pkixcmp");
        try (OutputStream out = connection.getOutputStream()) {
            out.write(request);
        }
        int code = connection.getResponseCode();
        String type = connection.getContentType();
        if (code != 200 || !"application/pkixcmp".equals(type)) {
            fail("HTTP " + code + " " + type + " (RFC 6712 3.3: 200 application/pkixcmp)");
        }
        try (InputStream in = connection.getInputStream()) {
            ByteArrayOutputStream body = new ByteArrayOutputStream();
            in.transferTo(body);
            return body.toByteArray();
        }
    }

    static void expectBody(ProtectedPKIMessage answer, int type) {
        if (answer.getBody().getType() != type) {
            fail("expected " + bodyName(type) + ", got " + describe(answer));
        }
    }

    static void checkAccepted(PKIStatusInfo status) {
        int value = status.getStatus().intValue();
        if (value != PKIStatus.GRANTED && value != PKIStatus.GRANTED_WITH_MODS) {
            fail("refused: status " + value + " " + status.getFailInfo() + " "
                 + status.getStatusString());
        }
    }

    static String describe(ProtectedPKIMessage answer) {
        PKIBody body = answer.getBody();
        if (body.getType() == PKIBody.TYPE_ERROR) {
            PKIStatusInfo info = ErrorMsgContent.getInstance(body.getContent()).getPKIStatusInfo();
            return "error " + info.getFailInfo() + " " + info.getStatusString();
        }
        return bodyName(body.getType());
    }

    static String statusName(PKIStatusInfo status) {
        int value = status.getStatus().intValue();
        return value == PKIStatus.GRANTED ? "accepted"
            : value == PKIStatus.GRANTED_WITH_MODS ? "grantedWithMods" : "status " + value;
    }

    static String bodyName(int type) {
        switch (type) {
            case PKIBody.TYPE_INIT_REP: return "ip";
            case PKIBody.TYPE_CERT_REP: return "cp";
            case PKIBody.TYPE_KEY_UPDATE_REP: return "kup";
            case PKIBody.TYPE_REVOCATION_REP: return "rp";
            case PKIBody.TYPE_GEN_REP: return "genp";
            case PKIBody.TYPE_CONFIRM: return "pkiconf";
            case PKIBody.TYPE_ERROR: return "error";
            default: return "body " + type;
        }
    }

    static X509Certificate readCertificate(String file) throws Exception {
        try (InputStream in = new FileInputStream(file)) {
            return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
        }
    }

    static byte[] nonce() {
        byte[] value = new byte[16];
        RANDOM.nextBytes(value);
        return value;
    }

    static void write(String file, byte[] data) throws Exception {
        try (FileOutputStream stream = new FileOutputStream(file)) {
            stream.write(data);
        }
    }

    static void fail(String reason) {
        System.out.println("FAILED: " + reason);
        System.exit(1);
    }
}
