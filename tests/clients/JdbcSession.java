// What connection pools (HikariCP, c3p0) and BI tools ask of a pgjdbc session besides queries:
// isValid() (an empty query), the isolation level, SHOW TIME ZONE, the session's TimeZone and a
// statement_timeout. Usage: java -cp postgresql.jar:. JdbcSession URL USER PASSWORD SLOW_QUERY
// Prints one line per fact, tab-separated, for the test to read.
import java.sql.*;

public class JdbcSession {
    public static void main(String[] args) throws Exception {
        String url = args[0], user = args[1], password = args[2], slow = args[3];
        try (Connection c = DriverManager.getConnection(url, user, password)) {
            for (int i = 0; i < 3; i++) System.out.println("valid\t" + c.isValid(5));
            System.out.println("isolation\t" + c.getTransactionIsolation());
            try (Statement s = c.createStatement()) {
                try (ResultSet r = s.executeQuery("SHOW TIME ZONE")) {
                    r.next();
                    System.out.println("show\t" + r.getMetaData().getColumnName(1) + "\t" + r.getString(1));
                }
                s.execute("SET TIME ZONE 'America/New_York'");
                try (ResultSet r = s.executeQuery("SELECT TIMESTAMPTZ '2024-07-01 12:00:00+00', "
                        + "CAST(TIMESTAMPTZ '2024-07-01 12:00:00+00' AS VARCHAR)")) {
                    r.next();
                    System.out.println("zone\t" + r.getTimestamp(1).toInstant() + "\t" + r.getString(2));
                }
                s.execute("SET statement_timeout = '50ms'");
                try {
                    s.executeQuery(slow).close();
                    System.out.println("timeout\tnone");
                } catch (SQLException e) {
                    System.out.println("timeout\t" + e.getSQLState() + "\t" + e.getMessage().split("\n")[0]);
                }
                s.execute("SET statement_timeout = 0");
            }
            System.out.println("valid\t" + c.isValid(5));
            c.setAutoCommit(false);
            System.out.println("valid-in-transaction\t" + c.isValid(5));
            c.rollback();
        }
    }
}
