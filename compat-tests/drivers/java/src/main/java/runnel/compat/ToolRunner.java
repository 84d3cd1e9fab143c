package runnel.compat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Runs one of Kafka's command-line tools (its {@code main}) inside the driver's JVM, so a test
 * pays one JVM start for many tool runs. Kafka's tools end through Kafka's {@code Exit} class,
 * whose exit procedure is replaced here by one that records the first exit code and unwinds;
 * stdout, stderr and stdin are swapped for the run. Answers {"code", "stdout", "stderr"}.
 * Needs the kafka-tools classpath (drivers/kafka-tools).
 */
final class ToolRunner {
    private ToolRunner() {}

    /** Thrown by the replaced exit procedure to unwind a tool's main. */
    static final class ExitCalled extends RuntimeException {
        ExitCalled() {
            super(null, null, false, false);
        }
    }

    private static Integer exitCode;
    private static boolean installed;

    /** Exit moved from common.utils to common.utils.internals in Kafka 4.2. */
    private static void install() throws ReflectiveOperationException {
        if (installed) {
            return;
        }
        Class<?> exit;
        try {
            exit = Class.forName("org.apache.kafka.common.utils.internals.Exit");
        } catch (ClassNotFoundException e) {
            exit = Class.forName("org.apache.kafka.common.utils.Exit");
        }
        Class<?> procedure = Class.forName(exit.getName() + "$Procedure");
        Object record = Proxy.newProxyInstance(procedure.getClassLoader(), new Class<?>[] {procedure},
            (proxy, method, args) -> {
                if (method.getDeclaringClass() == Object.class) {
                    return method.invoke(proxy, args);
                }
                synchronized (ToolRunner.class) {
                    if (exitCode == null) {
                        exitCode = (Integer) args[0];
                    }
                }
                throw new ExitCalled();
            });
        exit.getMethod("setExitProcedure", procedure).invoke(null, record);
        exit.getMethod("setHaltProcedure", procedure).invoke(null, record);
        Class<?> hookAdder = Class.forName(exit.getName() + "$ShutdownHookAdder");
        Object noHooks = Proxy.newProxyInstance(hookAdder.getClassLoader(), new Class<?>[] {hookAdder},
            (proxy, method, args) -> method.getDeclaringClass() == Object.class ? method.invoke(proxy, args) : null);
        exit.getMethod("setShutdownHookAdder", hookAdder).invoke(null, noHooks);
        installed = true;
    }

    static JsonNode run(JsonNode cmd) throws Exception {
        install();
        // Clients an earlier run left behind (a tool that exits early skips its close) may
        // still log about their brokers; their threads already exist now, this run's do not.
        Set<String> earlier = Thread.getAllStackTraces().keySet().stream()
            .map(Thread::getName)
            .filter(n -> n.startsWith("kafka-"))
            .collect(Collectors.toSet());
        List<String> args = new ArrayList<>();
        cmd.path("args").forEach(a -> args.add(a.asText()));
        Method main = Class.forName(cmd.path("class").asText()).getMethod("main", String[].class);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream oldOut = System.out;
        PrintStream oldErr = System.err;
        InputStream oldIn = System.in;
        OutputStream teeErr = new OutputStream() {
            @Override
            public void write(int b) {
                err.write(b);
                oldErr.write(b);
            }
        };
        synchronized (ToolRunner.class) {
            exitCode = null;
        }
        int code;
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(teeErr, true, StandardCharsets.UTF_8));
        System.setIn(new ByteArrayInputStream(cmd.path("stdin").asText("").getBytes(StandardCharsets.UTF_8)));
        try {
            main.invoke(null, (Object) args.toArray(new String[0]));
            code = 0;
        } catch (InvocationTargetException e) {
            if (!(e.getCause() instanceof ExitCalled)) {
                e.getCause().printStackTrace(System.err);
            }
            code = 1;
        } finally {
            System.out.flush();
            System.err.flush();
            System.setOut(oldOut);
            System.setErr(oldErr);
            System.setIn(oldIn);
        }
        synchronized (ToolRunner.class) {
            if (exitCode != null) {
                code = exitCode;
            }
        }
        synchronized (Driver.CAPTURED) {
            Driver.CAPTURED.removeIf(line -> earlier.stream().anyMatch(n -> line.contains("[" + n + "]")));
        }
        ObjectNode res = Driver.JSON.createObjectNode();
        res.put("code", code);
        res.put("stdout", out.toString(StandardCharsets.UTF_8));
        res.put("stderr", err.toString(StandardCharsets.UTF_8));
        return res;
    }
}
