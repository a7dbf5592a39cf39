package dev.schemagate.tests;

import java.util.Map;

/**
 * Entry point: `Main SCENARIO --bootstrap HOST:PORT --topic NAME [options]`. Progress goes to
 * stderr; the last stdout line is the scenario's JSON summary. Any failure exits 1 with the
 * exception on stderr, so the harness reports it.
 */
public final class Main {
    private Main() {}

    public static void main(String[] argv) {
        if (argv.length == 0) {
            System.err.println("usage: Main produce-consume|consumer-protocol|transactions|admin"
                    + "|elect-leaders|idempotent-reject|sasl|seq-load|version --bootstrap HOST:PORT --topic NAME ...");
            System.exit(2);
        }
        if (argv[0].equals("version")) {
            // The installer checks that the classpath it built carries the pinned client; the
            // jar's own version file, since the class that reads it moved between releases.
            java.util.Properties v = new java.util.Properties();
            try (var in = Main.class.getResourceAsStream("/kafka/kafka-version.properties")) {
                if (in == null) throw new IllegalStateException("kafka-clients is not on the classpath");
                v.load(in);
            } catch (Exception e) {
                e.printStackTrace();
                System.exit(1);
            }
            System.out.println(v.getProperty("version"));
            return;
        }
        long t0 = System.nanoTime();
        try {
            Args args = new Args(argv, 1);
            Map<String, Object> summary = switch (argv[0]) {
                case "produce-consume" -> ProduceConsume.run(args, "classic");
                case "consumer-protocol" -> ProduceConsume.run(args, "consumer");
                case "transactions" -> Transactions.run(args);
                case "admin" -> AdminScenario.run(args);
                case "elect-leaders" -> ElectLeaders.run(args);
                case "idempotent-reject" -> IdempotentReject.run(args);
                case "sasl" -> Sasl.run(args);
                case "seq-load" -> SeqLoad.run(args);
                default -> throw new IllegalArgumentException("unknown scenario " + argv[0]);
            };
            summary.put("scenario", argv[0]);
            summary.put("elapsed_ms", (System.nanoTime() - t0) / 1_000_000);
            System.out.println(Json.write(summary));
            System.out.flush();
            // Client threads (e.g. a failed producer's sender) must not keep the JVM alive.
            System.exit(0);
        } catch (Throwable e) {
            e.printStackTrace();
            System.exit(1);
        }
    }
}
