package io.facegate.producer;

import io.facegate.v1.CameraRegistration;
import io.facegate.v1.FaceCaptured;
import io.facegate.v1.LocationType;
import io.facegate.v1.Occlusion;
import io.facegate.v1.Purpose;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.config.SaslConfigs;
import org.apache.kafka.common.config.SslConfigs;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * A camera vendor's producer for FaceGate, written from docs/vendors.md.
 *
 * <p>Values are Avro single-object encoding: exactly what the generated classes' {@code
 * toByteBuffer()} writes (C3 01, the schema's CRC-64-AVRO fingerprint little-endian, the Avro
 * binary datum). Keys: a camera registration by camera_id, a capture by event_id.
 *
 * <p>Usage: {@code java -jar facegate-java-producer.jar INPUT} where INPUT has one record per line,
 * fields separated by tabs:
 *
 * <pre>
 * camera   camera_id tenant_id site_id location_type signage_posted(true|false) purposes(a,b) region
 *          vendor_id(or -)
 * capture  event_id camera_id tenant_id captured_at(ISO-8601) purpose template(base64) template_model
 *          quality occlusion age_estimate(or -)
 * </pre>
 *
 * <p>Every record goes to the topic of the vendor or tenant it is from, the only one that vendor's
 * or tenant's principal may write: captures to the vendor's {@code <prefix>faces.raw.<vendor>}, a
 * camera registration to its tenant's {@code <prefix>cameras.<tenant_id>}. The vendor is
 * FACEGATE_VENDOR_ID; an INPUT with captures and no vendor is refused before anything is sent. A
 * camera's vendor_id names the only vendor whose captures of it the gateway accepts (any other, or
 * "-" for none, and they are REJECTED: VENDOR_MISMATCH).
 *
 * <p>The connection comes from the gateway's variables: FACEGATE_BOOTSTRAP_SERVERS,
 * FACEGATE_TOPIC_PREFIX (default "facegate."), FACEGATE_SECURITY_PROTOCOL, FACEGATE_SASL_MECHANISM
 * (default SCRAM-SHA-512), FACEGATE_SASL_USERNAME, FACEGATE_SASL_PASSWORD, FACEGATE_SSL_CAFILE (PEM).
 *
 * <p>Exit status: 0 when every record was acknowledged, 2 for a usage or INPUT error (nothing sent).
 */
public final class Main {
  private static final long ACK_TIMEOUT_SECONDS = 60;
  /** Vendor and tenant ids name topics: what Kafka and ACLs handle plainly (as the gateway checks). */
  private static final Pattern ID = Pattern.compile("[A-Za-z0-9_-]{1,64}");

  private Main() {}

  /** A record to send: its kind (camera or capture), topic, key and single-object-encoded value. */
  record Send(String kind, String topic, String key, byte[] value) {}

  /** Wrong usage or input, found before anything was sent. */
  static final class UsageError extends Exception {
    UsageError(String message) {
      super(message);
    }
  }

  public static void main(String[] args) throws Exception {
    if (args.length != 1) {
      System.err.println("usage: facegate-java-producer INPUT (one camera or capture per line, tab-separated);"
          + " FACEGATE_VENDOR_ID names the vendor whose captures INPUT holds");
      System.exit(2);
    }
    Map<String, String> env = System.getenv();
    String prefix = env.getOrDefault("FACEGATE_TOPIC_PREFIX", "facegate.");

    // The fingerprints this build writes: compare them with `facegate schemas list`.
    System.out.println("fingerprint FaceCaptured " + fingerprint(FaceCaptured.getClassSchema()));
    System.out.println("fingerprint CameraRegistration " + fingerprint(CameraRegistration.getClassSchema()));

    List<Send> records;
    try {
      records = read(Files.readAllLines(Path.of(args[0]), StandardCharsets.UTF_8), prefix, env.get("FACEGATE_VENDOR_ID"));
    } catch (UsageError e) {
      System.err.println("facegate-java-producer: " + e.getMessage() + " (nothing sent)");
      System.exit(2);
      return;
    }
    Map<String, Integer> perTopic = new TreeMap<>();
    List<Future<RecordMetadata>> sent = new ArrayList<>();
    try (Producer<String, byte[]> producer = new KafkaProducer<>(config(env))) {
      for (Send r : records) {
        sent.add(producer.send(new ProducerRecord<>(r.topic(), r.key(), r.value())));
        perTopic.merge(r.topic(), 1, Integer::sum);
      }
      producer.flush();
      for (Future<RecordMetadata> ack : sent) {
        ack.get(ACK_TIMEOUT_SECONDS, TimeUnit.SECONDS); // every record acknowledged by all in-sync replicas
      }
    }
    perTopic.forEach((topic, n) -> System.out.println("topic " + topic + " " + n));
    long captures = records.stream().filter(r -> "capture".equals(r.kind())).count();
    System.out.println("sent " + (records.size() - captures) + " camera registrations, " + captures + " captures");
  }

  /**
   * Every record of INPUT with its topic, all parsed before the first is sent: a bad line, or
   * captures without a vendor, and nothing is.
   */
  static List<Send> read(List<String> lines, String prefix, String vendorId) throws UsageError {
    String vendor = vendorId == null || vendorId.isEmpty() ? null : vendorId;
    if (vendor != null && !ID.matcher(vendor).matches()) {
      throw new UsageError("FACEGATE_VENDOR_ID must be 1-64 characters of letters, digits, '_' or '-'"
          + " (it names the vendor's capture topic), got \"" + vendor + "\"");
    }
    List<Send> records = new ArrayList<>();
    int number = 0;
    for (String line : lines) {
      number++;
      if (line.isBlank() || line.startsWith("#")) {
        continue;
      }
      String[] f = line.split("\t", -1);
      try {
        switch (f[0]) {
          case "camera" -> {
            CameraRegistration camera = camera(f);
            String topic = prefix + "cameras." + checkedId("tenant_id", camera.getTenantId());
            records.add(new Send(f[0], topic, camera.getCameraId(), bytes(camera.toByteBuffer())));
          }
          case "capture" -> {
            FaceCaptured capture = capture(f);
            if (vendor == null) {
              throw new UsageError("captures go to their vendor's own topic (" + prefix
                  + "faces.raw.<vendor>): set FACEGATE_VENDOR_ID to the vendor whose captures INPUT holds");
            }
            records.add(new Send(f[0], prefix + "faces.raw." + vendor, capture.getEventId(), bytes(capture.toByteBuffer())));
          }
          default -> throw new IllegalArgumentException("unknown record kind " + f[0]);
        }
      } catch (UsageError e) {
        throw e;
      } catch (RuntimeException | IOException e) { // a bad field: IllegalArgumentException, DateTimeParseException, Avro's
        throw new UsageError("INPUT line " + number + ": " + e.getMessage());
      }
    }
    return records;
  }

  static String checkedId(String field, String id) {
    if (!ID.matcher(id).matches()) {
      throw new IllegalArgumentException(field + " must be 1-64 characters of letters, digits, '_' or '-'"
          + " (it names a topic), got \"" + id + "\"");
    }
    return id;
  }

  static Properties config(Map<String, String> env) throws IOException {
    Properties props = new Properties();
    props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, env.getOrDefault("FACEGATE_BOOTSTRAP_SERVERS", "127.0.0.1:9092"));
    props.put(ProducerConfig.ACKS_CONFIG, "all");
    props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true); // retries cannot reorder or duplicate a partition
    props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    String protocol = env.getOrDefault("FACEGATE_SECURITY_PROTOCOL", "PLAINTEXT");
    props.put(CommonClientConfigs.SECURITY_PROTOCOL_CONFIG, protocol);
    if (protocol.startsWith("SASL_")) {
      props.put(SaslConfigs.SASL_MECHANISM, env.getOrDefault("FACEGATE_SASL_MECHANISM", "SCRAM-SHA-512"));
      props.put(SaslConfigs.SASL_JAAS_CONFIG, String.format(
          "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"%s\" password=\"%s\";",
          env.get("FACEGATE_SASL_USERNAME"), env.get("FACEGATE_SASL_PASSWORD")));
    }
    String cafile = env.get("FACEGATE_SSL_CAFILE");
    if (protocol.endsWith("SSL") && cafile != null) {
      props.put(SslConfigs.SSL_TRUSTSTORE_TYPE_CONFIG, "PEM");
      props.put(SslConfigs.SSL_TRUSTSTORE_CERTIFICATES_CONFIG, Files.readString(Path.of(cafile)));
    }
    return props;
  }

  static CameraRegistration camera(String[] f) {
    expect(f, 9);
    List<Purpose> purposes = Arrays.stream(f[6].split(",")).map(Purpose::valueOf).toList();
    return CameraRegistration.newBuilder()
        .setCameraId(f[1])
        .setTenantId(f[2])
        .setSiteId(f[3])
        .setLocationType(LocationType.valueOf(f[4]))
        .setSignagePosted(Boolean.parseBoolean(f[5]))
        .setSignageEvidence(null)
        .setAllowedPurposes(purposes)
        .setRegion(f[7])
        .setVendorId("-".equals(f[8]) ? null : checkedId("vendor_id", f[8])) // whose captures of it are accepted
        .build();
  }

  static FaceCaptured capture(String[] f) {
    expect(f, 11);
    return FaceCaptured.newBuilder()
        .setEventId(f[1])
        .setCameraId(f[2])
        .setTenantId(f[3])
        .setCapturedAt(Instant.parse(f[4]))
        .setPurpose(Purpose.valueOf(f[5]))
        .setTemplate(ByteBuffer.wrap(Base64.getDecoder().decode(f[6]))) // little-endian float32 values
        .setTemplateModel(f[7])
        .setQuality(Double.parseDouble(f[8]))
        .setOcclusion(Occlusion.valueOf(f[9]))
        .setImage(null) // a face crop is optional, and discarded by the gateway
        .setAgeEstimate("-".equals(f[10]) ? null : Integer.valueOf(f[10]))
        .build();
  }

  private static void expect(String[] f, int n) {
    if (f.length != n) {
      throw new IllegalArgumentException(f[0] + " needs " + n + " tab-separated fields, got " + f.length);
    }
  }

  /** The schema's id in single-object encoding: CRC-64-AVRO of its canonical form, little-endian. */
  static String fingerprint(Schema schema) {
    long fp = SchemaNormalization.parsingFingerprint64(schema);
    byte[] le = new byte[8];
    for (int i = 0; i < 8; i++) {
      le[i] = (byte) (fp >>> (8 * i));
    }
    return HexFormat.of().formatHex(le);
  }

  static byte[] bytes(ByteBuffer buffer) {
    byte[] out = new byte[buffer.remaining()];
    buffer.get(out);
    return out;
  }
}
