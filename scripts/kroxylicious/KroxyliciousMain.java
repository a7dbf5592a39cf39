// Starts Kroxylicious from its runtime jars with one YAML configuration file: the part of
// kroxylicious-app this machine cannot fetch (see pom.xml). Written for schemagate's bench;
// it parses the file with Kroxylicious' own ConfigParser, starts a KafkaProxy with the default
// feature set and blocks until the process is stopped.
//   java -cp <classes>:<libs>/* dev.schemagate.bench.KroxyliciousMain CONFIG.yaml
//   java -cp ... dev.schemagate.bench.KroxyliciousMain --version
package dev.schemagate.bench;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;

import io.kroxylicious.proxy.KafkaProxy;
import io.kroxylicious.proxy.config.ConfigParser;
import io.kroxylicious.proxy.config.Configuration;
import io.kroxylicious.proxy.internal.config.Features;

public final class KroxyliciousMain {
    private KroxyliciousMain() {
    }

    /** The version Maven recorded in the runtime jar, or "unknown". */
    static String version() throws Exception {
        String resource = "META-INF/maven/io.kroxylicious/kroxylicious-runtime/pom.properties";
        try (InputStream in = KafkaProxy.class.getClassLoader().getResourceAsStream(resource)) {
            if (in == null) {
                return "unknown";
            }
            Properties p = new Properties();
            p.load(in);
            return p.getProperty("version", "unknown");
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: KroxyliciousMain CONFIG.yaml | --version");
            System.exit(2);
        }
        if (args[0].equals("--version")) {
            System.out.println(version());
            return;
        }
        ConfigParser parser = new ConfigParser();
        Configuration config;
        try (InputStream in = Files.newInputStream(Path.of(args[0]))) {
            config = parser.parseConfiguration(in);
        }
        System.err.println("kroxylicious " + version() + " on Java " + Runtime.version() + ", config " + args[0]);
        try (KafkaProxy proxy = new KafkaProxy(parser, config, Features.defaultFeatures())) {
            proxy.startup();
            proxy.block();
        }
    }
}
