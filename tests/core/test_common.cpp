// SPDX-License-Identifier: GPL-3.0-or-later
// common/: progress and cancellation, atomic writes (including a writer killed mid-write), the
// A1111 parameters text, the XDG data folder, settings written and read through one field table.
#include "common/a1111_parameters.h"
#include "common/allocator_tuning.h"
#include "common/atomic_file.h"
#include "common/error.h"
#include "common/json_fields.h"
#include "common/paths.h"
#include "common/progress.h"
#include "support/test_support.h"

#include <QtTest>

#include <csignal>
#include <cstdlib>
#include <cstring>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace psa;
namespace fs = std::filesystem;

class TestCommon : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void large_tensor_sized_blocks_stay_in_the_heap()
    {
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)
        psa::keep_freed_tensor_memory();
        const std::size_t size = 64u << 20; // above glibc's largest mmap threshold (32 MiB)
        const auto mapped_before = mallinfo2().hblkhd;
        auto* block = static_cast<char*>(std::malloc(size));
        QVERIFY(block);
        std::memset(block, 1, size);
        const auto info = mallinfo2();
        std::free(block);
        QCOMPARE(info.hblkhd, mapped_before); // the block came from the heap, not from a fresh mmap
        psa::release_free_memory();
#else
        QSKIP("glibc's allocator only");
#endif
    }

    void job_control_reports_rate_and_eta()
    {
        std::vector<Progress> seen;
        JobControl job({}, [&](const Progress& p) { seen.push_back(p); });
        job.report(Stage::Denoise, 0, 4);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        job.report(Stage::Denoise, 2, 4);
        QCOMPARE(seen.size(), size_t(2));
        QCOMPARE(seen[1].step, 2);
        QVERIFY(seen[1].rate_per_second > 0.0);
        QVERIFY(seen[1].rate_per_second < 200.0); // 2 steps took at least 20 ms
        QVERIFY(seen[1].eta_seconds > 0.0);
        QCOMPARE(seen[0].eta_seconds, -1.0);
    }

    void job_control_sees_stop_request()
    {
        std::stop_source source;
        JobControl job(source.get_token(), {});
        QVERIFY(!job.stop_requested());
        source.request_stop();
        QVERIFY(job.stop_requested());
        JobControl detached;
        QVERIFY(!detached.stop_requested());
        detached.report(Stage::Other, 1, 1); // no callback: no crash
    }

    void atomic_write_replaces_content()
    {
        test::TempDir dir;
        const auto p = dir / "a.txt";
        write_file_atomic(p, "first");
        write_file_atomic(p, "second");
        QCOMPARE(read_file_text(p), std::string("second"));
        QCOMPARE(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator{}), 1L);
    }

    void uncommitted_writer_leaves_old_file_and_no_temp()
    {
        test::TempDir dir;
        const auto p = dir / "profile.json";
        write_file_atomic(p, "old");
        {
            AtomicFileWriter w(p);
            w.write("new and partial");
            QVERIFY(fs::exists(w.temporary_path()));
        } // destroyed without commit, as when an exception unwinds
        QCOMPARE(read_file_text(p), std::string("old"));
        QCOMPARE(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator{}), 1L);
    }

    void killed_writer_leaves_previous_file_intact()
    {
        test::TempDir dir;
        const auto p = dir / "adapter.safetensors";
        write_file_atomic(p, std::string(1000, 'A'));
        const pid_t child = fork();
        QVERIFY(child >= 0);
        if (child == 0) {
            AtomicFileWriter w(p);
            w.write(std::string(1 << 20, 'B'));
            raise(SIGKILL); // dies mid-write: no destructor, no commit
            _exit(0);
        }
        int status = 0;
        waitpid(child, &status, 0);
        QVERIFY(WIFSIGNALED(status));
        QCOMPARE(WTERMSIG(status), SIGKILL);
        QCOMPARE(read_file_text(p), std::string(1000, 'A'));
    }

    void writer_into_missing_folder_names_it()
    {
        test::TempDir dir;
        try {
            write_file_atomic(dir / "nope" / "x.txt", "x");
            QFAIL("expected IoError");
        } catch (const IoError& e) {
            QVERIFY(std::string(e.what()).find("does not exist") != std::string::npos);
            QVERIFY(std::string(e.what()).find("x.txt") != std::string::npos);
        }
    }

    void read_missing_file_names_it()
    {
        QVERIFY_THROWS_EXCEPTION(IoError, read_file_bytes("/nonexistent/psa/file.bin"));
    }

    void a1111_round_trip()
    {
        A1111Parameters p;
        p.prompt = "a red fox, in the snow\nsecond line";
        p.negative_prompt = "blurry, low quality";
        p.fields = {{"Steps", "20"},
                    {"Sampler", "DPM++ 2M Karras"},
                    {"CFG scale", "7.5"},
                    {"Seed", "2025"},
                    {"Size", "512x512"},
                    {"PSA profile", "L3: bans Sexuality, Shocking"}};
        const std::string text = format_a1111_parameters(p);
        QVERIFY(text.find("PSA profile: \"L3: bans Sexuality, Shocking\"") != std::string::npos);
        const auto back = parse_a1111_parameters(text);
        QCOMPARE(back.prompt, p.prompt);
        QCOMPARE(back.negative_prompt, p.negative_prompt);
        QCOMPARE(back.fields, p.fields);
        QCOMPARE(*back.field("Seed"), std::string("2025"));
        QVERIFY(!back.field("Model hash"));
    }

    void a1111_parses_foreign_text()
    {
        const std::string text = "masterpiece, 1girl\nNegative prompt: lowres\nSteps: 28, Sampler: "
                                 "Euler a, CFG scale: 7, Seed: 42, Size: 512x768, Model hash: abc123";
        const auto p = parse_a1111_parameters(text);
        QCOMPARE(p.prompt, std::string("masterpiece, 1girl"));
        QCOMPARE(p.negative_prompt, std::string("lowres"));
        QCOMPARE(*p.field("Size"), std::string("512x768"));
        QCOMPARE(*p.field("Model hash"), std::string("abc123"));
        const auto plain = parse_a1111_parameters("just a prompt: with a colon");
        QCOMPARE(plain.prompt, std::string("just a prompt: with a colon"));
        QVERIFY(plain.fields.empty());
    }

    void data_dir_follows_xdg()
    {
        test::TempDir dir;
        const QByteArray old = qgetenv("XDG_DATA_HOME");
        qputenv("XDG_DATA_HOME", QByteArray::fromStdString(dir.path().string()));
        const auto logs = app_data_subdir("logs");
        QCOMPARE(logs, dir.path() / "psa-studio" / "logs");
        QVERIFY(fs::is_directory(logs));
        qputenv("XDG_DATA_HOME", "relative/ignored");
        QVERIFY(app_data_dir().is_absolute());
        qputenv("XDG_DATA_HOME", old);
    }

    void field_table_writes_and_reads_the_same_fields()
    {
        struct Settings {
            int steps = 1;
            double lr = 0.5;
            std::string name = "a";
            std::vector<std::string> prompts;
        };
        const auto table = [](Settings& c, auto&& v) {
            v("steps", c.steps);
            v("lr", c.lr);
            v("name", c.name);
            v("prompts", c.prompts);
        };
        Settings c;
        c.steps = 7;
        c.prompts = {"x", "y"};
        const auto j = fields_to_json(c, table);
        QCOMPARE(j.dump(), std::string(R"({"lr":0.5,"name":"a","prompts":["x","y"],"steps":7})"));

        Settings back;
        back.name = "kept";
        fields_from_json(nlohmann::json::parse(R"({"steps": 7, "prompts": ["x", "y"], "lr": null})"), "s.json",
                         back, table);
        QCOMPARE(back.steps, 7);
        QCOMPARE(back.lr, 0.5);           // null counts as absent
        QCOMPARE(back.name, std::string("kept")); // absent keys keep their value
        QCOMPARE(back.prompts, c.prompts);

        const auto message = [&](const std::string& text) {
            try {
                Settings s;
                fields_from_json(parse_json_object_text(text, "s.json", "a test setting"), "s.json", s, table);
            } catch (const ConfigError& e) {
                return std::string(e.what());
            }
            return std::string();
        };
        QCOMPARE(message(R"({"steps": "many"})"), std::string(R"(s.json: "steps" has the wrong type (string))"));
        QVERIFY(message("[1]").find("a test setting must be a JSON object") != std::string::npos);
        QVERIFY(message("{oops").find("s.json: malformed JSON") == 0);
    }
};

QTEST_APPLESS_MAIN(TestCommon)
#include "test_common.moc"
