// What DBeaver, Metabase and Tableau do through pgjdbc: DatabaseMetaData and a PreparedStatement.
// Usage: java -cp postgresql.jar:. JdbcProbe URL USER PASSWORD TABLE COLUMN
// Prints one line per fact, tab-separated, for the test to read.
import java.sql.*;

public class JdbcProbe {
    public static void main(String[] args) throws Exception {
        String url = args[0], user = args[1], password = args[2], table = args[3], column = args[4];
        try (Connection c = DriverManager.getConnection(url, user, password)) {
            DatabaseMetaData meta = c.getMetaData();
            System.out.println("product\t" + meta.getDatabaseProductName() + "\t" + meta.getDatabaseProductVersion());
            try (ResultSet r = meta.getSchemas()) {
                while (r.next()) System.out.println("schema\t" + r.getString("TABLE_SCHEM"));
            }
            try (ResultSet r = meta.getTables(null, null, "%", new String[] {"TABLE"})) {
                while (r.next()) System.out.println("table\t" + r.getString("TABLE_SCHEM") + "\t" + r.getString("TABLE_NAME"));
            }
            try (ResultSet r = meta.getColumns(null, null, table, "%")) {
                while (r.next()) System.out.println("column\t" + r.getString("COLUMN_NAME") + "\t" + r.getString("TYPE_NAME")
                        + "\t" + r.getInt("DATA_TYPE") + "\t" + r.getString("IS_NULLABLE"));
            }
            try (ResultSet r = meta.getPrimaryKeys(null, null, table)) {
                while (r.next()) System.out.println("key\t" + r.getString("COLUMN_NAME") + "\t" + r.getString("PK_NAME"));
            }
            String sql = "SELECT \"" + column + "\" FROM " + table + " WHERE \"" + column + "\" IS NOT NULL AND \"" + column
                    + "\" <> ? ORDER BY 1 LIMIT 3";
            for (int run = 0; run < 6; run++) {  // past prepareThreshold (5): server-side prepared statements too
                try (PreparedStatement p = c.prepareStatement(sql)) {
                    p.setString(1, "no such value");
                    try (ResultSet r = p.executeQuery()) {
                        ResultSetMetaData rm = r.getMetaData();
                        while (r.next()) if (run == 5) System.out.println("row\t" + rm.getColumnName(1) + "\t" + r.getString(1));
                    }
                }
            }
            c.setAutoCommit(false);  // a cursor-backed fetch, as BI tools page through results
            try (Statement s = c.createStatement()) {
                s.setFetchSize(2);
                int n = 0;
                try (ResultSet r = s.executeQuery("SELECT \"" + column + "\" FROM " + table)) {
                    while (r.next()) n++;
                }
                System.out.println("fetched\t" + n);
            }
            c.commit();
        }
    }
}
