// A small EST client on the Bouncy Castle EST API (Debian's libbcpkix-java), used by
// tests/integration/test_est_bouncycastle.py as the third-party client of RFC 7030.
//
//   java ESTClient cacerts        HOST:PORT CA.pem OUTDIR
//   java ESTClient simpleenroll   HOST:PORT CA.pem OUTDIR SUBJECT USER PASSWORD
//   java ESTClient serverkeygen   HOST:PORT CA.pem OUTDIR SUBJECT USER PASSWORD
//   java ESTClient simplereenroll HOST:PORT CA.pem OUTDIR SUBJECT CLIENT.p12 P12PASSWORD
//   java ESTClient pendingenroll  HOST:PORT CA.pem OUTDIR SUBJECT USER PASSWORD LABEL SECONDS
//
// It writes OUTDIR/cacerts.pem, or OUTDIR/cert.pem and OUTDIR/key.pem, and exits non-zero
// with the exception's message on failure. An empty SUBJECT makes a CSR without one (the
// server takes the subject from the enrollment code). `pendingenroll` is simpleenroll on a label whose
// requests await approval: on each 202 it prints "pending: retry after N ms" (Bouncy
// Castle's reading of Retry-After), waits that long and repeats the request
// (RFC 7030 4.2.3), for at most SECONDS.

import java.io.FileInputStream;
import java.io.FileWriter;
import java.io.InputStream;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.Security;
import java.security.cert.CertificateFactory;
import java.security.cert.TrustAnchor;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.util.Collections;
import javax.net.ssl.KeyManagerFactory;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.asn1.x500.RDN;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.est.CACertsResponse;
import org.bouncycastle.est.ESTAuth;
import org.bouncycastle.est.ESTService;
import org.bouncycastle.est.EnrollmentResponse;
import org.bouncycastle.est.HttpAuth;
import org.bouncycastle.est.jcajce.JcaJceUtils;
import org.bouncycastle.est.jcajce.JsseESTServiceBuilder;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder;
import org.bouncycastle.util.io.pem.PemObject;

public class ESTClient {
    public static void main(String[] args) throws Exception {
        Security.addProvider(new BouncyCastleProvider());
        String op = args[0], server = args[1], outDir = args[3];
        X509Certificate ca;
        try (InputStream in = new FileInputStream(args[2])) {
            ca = (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
        }
        JsseESTServiceBuilder builder = new JsseESTServiceBuilder(
            server, JcaJceUtils.getCertPathTrustManager(
                Collections.singleton(new TrustAnchor(ca, null)), null));
        boolean pending = op.equals("pendingenroll");
        if (pending) {
            builder.withLabel(args[7]);
        }
        if (op.equals("simplereenroll")) {
            KeyStore store = KeyStore.getInstance("PKCS12");
            try (InputStream in = new FileInputStream(args[5])) {
                store.load(in, args[6].toCharArray());
            }
            KeyManagerFactory factory = KeyManagerFactory.getInstance("SunX509");
            factory.init(store, args[6].toCharArray());
            builder.withKeyManagers(factory.getKeyManagers());
        }
        ESTService est = builder.build();
        if (op.equals("cacerts")) {
            CACertsResponse response = est.getCACerts();
            write(outDir + "/cacerts.pem", ESTService.storeToArray(response.getCertificateStore()));
            return;
        }
        KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
        generator.initialize(new ECGenParameterSpec("secp256r1"));
        KeyPair keys = generator.generateKeyPair();
        X500Name subject = args[4].isEmpty() ? new X500Name(new RDN[0]) : new X500Name(args[4]);
        PKCS10CertificationRequest csr = new JcaPKCS10CertificationRequestBuilder(
                subject, keys.getPublic())
            .build(new JcaContentSignerBuilder("SHA256withECDSA").build(keys.getPrivate()));
        ESTAuth auth = op.equals("simplereenroll") ? null
            : new HttpAuth(null, args[5], args[6].toCharArray());
        EnrollmentResponse response;
        Object key = keys.getPrivate();
        if (op.equals("serverkeygen")) {
            response = est.simpleEnrollWithServersideCreation(csr, auth);
            key = response.getPrivateKeyInfo();
        } else {
            response = est.simpleEnroll(op.equals("simplereenroll"), csr, auth);
        }
        long deadline = pending ? System.currentTimeMillis() + 1000L * Long.parseLong(args[8]) : 0;
        while (pending && !response.isCompleted()) {
            long wait = Math.max(0, response.getNotBefore() - System.currentTimeMillis());
            System.out.println("pending: retry after " + wait + " ms");
            System.out.flush();
            if (System.currentTimeMillis() + wait > deadline) {
                throw new IllegalStateException("still pending at the deadline");
            }
            Thread.sleep(wait);
            response = est.simpleEnroll(response);
        }
        if (!response.isCompleted()) {
            throw new IllegalStateException("enrollment not completed");
        }
        write(outDir + "/cert.pem", ESTService.storeToArray(response.getStore()));
        byte[] pkcs8 = key instanceof PrivateKeyInfo ? ((PrivateKeyInfo) key).getEncoded()
            : ((PrivateKey) key).getEncoded();
        try (JcaPEMWriter writer = new JcaPEMWriter(new FileWriter(outDir + "/key.pem"))) {
            writer.writeObject(new PemObject("PRIVATE KEY", pkcs8));
        }
    }

    private static void write(String path, X509CertificateHolder[] certificates) throws Exception {
        try (JcaPEMWriter writer = new JcaPEMWriter(new FileWriter(path))) {
            for (X509CertificateHolder certificate : certificates) {
                writer.writeObject(certificate);
            }
        }
    }
}
