package dev.schemagate.tests;

import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/** `--name value` options; a missing required option or an unknown one stops the run. */
final class Args {
    private final Map<String, String> values = new HashMap<>();
    private final Set<String> used = new HashSet<>();

    Args(String[] argv, int from) {
        for (int i = from; i < argv.length; i++) {
            String a = argv[i];
            if (!a.startsWith("--") || i + 1 >= argv.length) {
                throw new IllegalArgumentException("expected --name value, got '" + a + "'");
            }
            values.put(a.substring(2), argv[++i]);
        }
    }

    String required(String name) {
        used.add(name);
        String v = values.get(name);
        if (v == null) throw new IllegalArgumentException("--" + name + " is required");
        return v;
    }

    String get(String name, String fallback) {
        used.add(name);
        return values.getOrDefault(name, fallback);
    }

    int getInt(String name, int fallback) {
        return Integer.parseInt(get(name, Integer.toString(fallback)));
    }

    /** Fails on options no scenario asked for, so a typo in a test is not silently ignored. */
    void checkAllUsed() {
        for (String name : values.keySet()) {
            if (!used.contains(name)) throw new IllegalArgumentException("unknown option --" + name);
        }
    }
}
