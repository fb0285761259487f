#include "server/runtime/pg_url.h"

#include <string>
#include <utility>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace plantmesh::runtime {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Outside testing: libpq quoted these strings, password and all, in the error the server
// logged (and named localhost:5432, its default, as the server it could not reach).
TEST(PgUrlTest, AStringLibpqCannotReadIsRefusedWithoutItsPassword) {
  for (const char* url : {"postgresql://plantmesh:S3CRETPW@[db1.plant/plantmesh",
                          "postgresql://plantmesh:S3CRET%PW@db1.plant:5432/plantmesh",
                          "postgres://u:S3CRET/PW@db1:5432/x?sslmode=verify-full&bad",
                          "host=db1 password='S3CRET PW' dbname", "host=db1 password=S3CRETPW x",
                          // Re-test: a scheme libpq does not know was quoted whole, an '@'
                          // after the host hid the password, and so did a blank in it.
                          "POSTGRESQL://postgres:S3CRETPW@127.0.0.1:24400/plantmesh",
                          " postgresql://postgres:S3CRETPW@127.0.0.1/plantmesh",
                          "postgresql+psycopg2://postgres:S3CRETPW@h/x", "pgsql://u:S3CRETPW@h/x",
                          "postgresql://postgres:S3CRET%zzPW@h/plantmesh?application_name=a@b",
                          "host=h user=postgres password=S3CRET S3CRETPW dbname=plantmesh",
                          "postgresql://postgres@h/plantmesh?password%3DS3CRETPW"}) {
    const absl::Status status = CheckPostgresUrl(url);
    ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << url;
    EXPECT_THAT(status.message(), HasSubstr("postgres-url: not a libpq connection string"));
    EXPECT_THAT(status.message(), Not(HasSubstr("S3CRET"))) << status;
  }
  EXPECT_THAT(CheckPostgresUrl("POSTGRESQL://u:S3CRETPW@h/x").message(),
              HasSubstr("a URI must begin postgresql:// or postgres://"));
  EXPECT_THAT(CheckPostgresUrl("host=h x").message(), HasSubstr("missing \"=\""));
}

// Re-test: libpq parses these and refuses them only when it connects; the server started
// and then exited 1 on its first connection, as if PostgreSQL were down.
TEST(PgUrlTest, ASettingLibpqWouldRefuseIsNamed) {
  const std::pair<const char*, const char*> cases[] = {
      {"postgresql://u:S3CRETPW@h/x?sslmode=requir", "sslmode 'requir' is none of disable,"},
      {"host=h password=S3CRETPW sslmode=REQUIRE", "sslmode 'REQUIRE'"},
      {"postgresql://u:S3CRETPW@h:99999/x", "port '99999' is not a port number 1-65535"},
      {"host=h port=0 password=S3CRETPW", "port '0'"},
      {"host=a,b port=5432,x1 password=S3CRETPW", "port 'x1'"},
      {"host=h connect_timeout=5s", "connect_timeout '5s'"},
      {"host=h target_session_attrs=master", "target_session_attrs 'master' is none of"},
      {"host=h gssencmode=on", "gssencmode 'on'"},
      {"host=h channel_binding=yes", "channel_binding 'yes'"},
      // Re-test: these started the server too.
      {"host=h keepalives=x", "keepalives 'x' is not a whole number"},
      {"host=h keepalives_idle=1.5", "keepalives_idle '1.5'"},
      {"host=h tcp_user_timeout=ms", "tcp_user_timeout 'ms'"},
      {"host=h hostaddr=db.plant", "hostaddr 'db.plant' is not a numeric IPv4 or IPv6 address"},
      {"host=h ssl_min_protocol_version=TLSv1.4", "ssl_min_protocol_version 'TLSv1.4' is none"},
      {"host=a,b port=1,2,3", "3 ports for 2 hosts"},
      {"host=a,b hostaddr=127.0.0.1", "1 hostaddr values for 2 host names"},
  };
  for (const auto& [url, expected] : cases) {
    const absl::Status status = CheckPostgresUrl(url);
    ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << url;
    EXPECT_THAT(status.message(), HasSubstr(std::string("postgres-url: ") + expected)) << status;
    EXPECT_THAT(status.message(), Not(HasSubstr("S3CRET"))) << status;
  }
}

TEST(PgUrlTest, ValidStringsPass) {
  for (const char* url : {"", "postgresql://plantmesh@127.0.0.1:5432/plantmesh",
                          "postgresql://u:p%23w@db/x?sslmode=require",
                          "host=a,b port=5432, sslmode=verify-full connect_timeout=10",
                          // libpq takes a sign and blanks around a number, any case for
                          // a TLS version, an IPv6 address.
                          "host=h port=+5432 connect_timeout=-1 keepalives=' 1 '",
                          "host=h hostaddr=::1 ssl_min_protocol_version=tlsv1.2",
                          "postgresql://h1:5432,h2/x?target_session_attrs=read-write",
                          "host=127.0.0.1 port=5432 password='a b#c' dbname=plantmesh"}) {
    EXPECT_TRUE(CheckPostgresUrl(url).ok()) << url << ": " << CheckPostgresUrl(url);
  }
}

TEST(PgUrlTest, WithoutPasswordHidesItInEveryForm) {
  EXPECT_EQ(WithoutPassword("postgresql://u:pw%41@h/db", "bad token pw%41 here"),
            "bad token *** here");
  EXPECT_EQ(WithoutPassword("host=h password='a b' x=1", "'a b' and a b"), "*** and ***");
  EXPECT_EQ(WithoutPassword("postgresql://h/db?password=sec&x=1", "sec"), "***");
  EXPECT_EQ(WithoutPassword("postgresql://u@h/db", "nothing to hide"), "nothing to hide");
  // As libpq reads it too: percent-decoded.
  EXPECT_EQ(WithoutPassword("postgresql://u:p%41ss@h/db", "pAss"), "***");
}

}  // namespace
}  // namespace plantmesh::runtime
