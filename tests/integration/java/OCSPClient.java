// A small OCSP client on Bouncy Castle's OCSP API (Debian's libbcpkix-java), used by
// tests/integration/test_ocsp_bouncycastle.py as the third-party client of RFC 6960.
//
//   java OCSPClient ISSUER.pem CERT.pem URL sha1|sha256 GET|POST REQUEST.der
//
// It builds the CertID the way Bouncy Castle does (hashAlgorithm from its default digest
// algorithm finder), writes the DER request to REQUEST.der, sends it (GET: the URL-encoded
// base64 appended to URL, RFC 6960 Appendix A.1), checks the responder's signature, and
// prints "good", "revoked" or "unknown" for the SingleResponse whose CertID equals its own.
// It exits non-zero with a message when no SingleResponse matches or anything fails.

import java.io.ByteArrayOutputStream;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.URL;
import java.net.URLEncoder;
import java.security.Security;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateHolder;
import org.bouncycastle.cert.ocsp.BasicOCSPResp;
import org.bouncycastle.cert.ocsp.CertificateID;
import org.bouncycastle.cert.ocsp.CertificateStatus;
import org.bouncycastle.cert.ocsp.OCSPReq;
import org.bouncycastle.cert.ocsp.OCSPReqBuilder;
import org.bouncycastle.cert.ocsp.OCSPResp;
import org.bouncycastle.cert.ocsp.RevokedStatus;
import org.bouncycastle.cert.ocsp.SingleResp;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.operator.DefaultDigestAlgorithmIdentifierFinder;
import org.bouncycastle.operator.DigestCalculatorProvider;
import org.bouncycastle.operator.jcajce.JcaContentVerifierProviderBuilder;
import org.bouncycastle.operator.jcajce.JcaDigestCalculatorProviderBuilder;
import org.bouncycastle.util.encoders.Base64;

public class OCSPClient {
    public static void main(String[] args) throws Exception {
        Security.addProvider(new BouncyCastleProvider());
        X509Certificate issuer = load(args[0]);
        X509Certificate cert = load(args[1]);
        String url = args[2];
        String digest = args[3].equals("sha1") ? "SHA-1" : "SHA-256";
        DigestCalculatorProvider digests = new JcaDigestCalculatorProviderBuilder()
            .setProvider("BC").build();
        CertificateID id = new CertificateID(
            digests.get(new DefaultDigestAlgorithmIdentifierFinder().find(digest)),
            new JcaX509CertificateHolder(issuer), cert.getSerialNumber());
        byte[] request = new OCSPReqBuilder().addRequest(id).build().getEncoded();
        try (OutputStream out = new FileOutputStream(args[5])) {
            out.write(request);
        }
        HttpURLConnection connection;
        if (args[4].equals("GET")) {
            String encoded = URLEncoder.encode(Base64.toBase64String(request), "UTF-8");
            connection = (HttpURLConnection) new URL(url + "/" + encoded).openConnection();
        } else {
            connection = (HttpURLConnection) new URL(url).openConnection();
            connection.setRequestMethod("POST");
            connection.setDoOutput(true);
            connection.setRequestProperty("Content-Type", "application/ocsp-request");
            try (OutputStream out = connection.getOutputStream()) {
                out.write(request);
            }
        }
        if (connection.getResponseCode() != 200) {
            fail("HTTP " + connection.getResponseCode());
        }
        OCSPResp response;
        try (InputStream in = connection.getInputStream()) {
            response = new OCSPResp(readAll(in));
        }
        if (response.getStatus() != OCSPResp.SUCCESSFUL) {
            fail("responseStatus " + response.getStatus());
        }
        BasicOCSPResp basic = (BasicOCSPResp) response.getResponseObject();
        X509CertificateHolder[] certs = basic.getCerts();
        if (certs.length == 0 || !basic.isSignatureValid(
                new JcaContentVerifierProviderBuilder().setProvider("BC").build(certs[0]))) {
            fail("response signature does not verify");
        }
        for (SingleResp single : basic.getResponses()) {
            if (single.getCertID().equals(id)) {
                CertificateStatus status = single.getCertStatus();
                System.out.println(status == CertificateStatus.GOOD ? "good"
                    : status instanceof RevokedStatus ? "revoked" : "unknown");
                return;
            }
        }
        fail("no matching response for the CertID asked about");
    }

    private static X509Certificate load(String path) throws Exception {
        try (InputStream in = new FileInputStream(path)) {
            return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
        }
    }

    private static byte[] readAll(InputStream in) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buffer = new byte[4096];
        for (int n; (n = in.read(buffer)) > 0; ) {
            out.write(buffer, 0, n);
        }
        return out.toByteArray();
    }

    private static void fail(String message) {
        System.err.println(message);
        System.exit(1);
    }
}
