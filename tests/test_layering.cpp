// SPDX-License-Identifier: GPL-3.0-or-later
// Architecture check: every `#include "module/..."` in core/ must name the module itself or one it
// depends on (directly or through others) in core/CMakeLists.txt's psa_core_module() lines; core/
// never includes Qt; ui/ never includes torch.
#include "support/test_support.h"

#include <QtTest>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

namespace fs = std::filesystem;

namespace {

std::string read_all(const fs::path& p)
{
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::map<std::string, std::set<std::string>> declared_deps()
{
    const std::string text = read_all(psa::test::source_dir() / "core" / "CMakeLists.txt");
    std::map<std::string, std::set<std::string>> deps;
    const std::regex block(R"(psa_core_module\(\s*(\w+)([^)]*)\))");
    for (std::sregex_iterator it(text.begin(), text.end(), block), end; it != end; ++it) {
        const std::string name = (*it)[1];
        const std::string body = (*it)[2];
        auto& d = deps[name];
        const auto pos = body.find("DEPS");
        if (pos == std::string::npos)
            continue;
        std::istringstream words(body.substr(pos + 4));
        for (std::string w; words >> w;) {
            if (w == "LIBS" || w == "SOURCES" || w == "NO_TORCH")
                break;
            d.insert(w);
        }
    }
    return deps;
}

std::set<std::string> closure(const std::map<std::string, std::set<std::string>>& deps, const std::string& m)
{
    std::set<std::string> seen{m};
    std::vector<std::string> todo{m};
    while (!todo.empty()) {
        const auto cur = todo.back();
        todo.pop_back();
        const auto it = deps.find(cur);
        if (it == deps.end())
            continue;
        for (const auto& d : it->second)
            if (seen.insert(d).second)
                todo.push_back(d);
    }
    return seen;
}

std::vector<std::pair<fs::path, std::string>> includes_under(const fs::path& root)
{
    std::vector<std::pair<fs::path, std::string>> out;
    const std::regex inc("^\\s*#\\s*include\\s*[<\"]([^>\"]+)[>\"]");
    for (const auto& e : fs::recursive_directory_iterator(root)) {
        const auto ext = e.path().extension();
        if (ext != ".h" && ext != ".cpp")
            continue;
        std::ifstream in(e.path());
        for (std::string line; std::getline(in, line);) {
            std::smatch m;
            if (std::regex_search(line, m, inc))
                out.emplace_back(e.path(), m[1]);
        }
    }
    return out;
}

} // namespace

class TestLayering : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void core_modules_include_only_their_dependencies()
    {
        const auto deps = declared_deps();
        QVERIFY2(deps.count("common") && deps.count("tensor_io"), "module table not found");
        const fs::path core = psa::test::source_dir() / "core";
        QStringList problems;
        for (const auto& [file, header] : includes_under(core)) {
            const auto rel = fs::relative(file, core);
            if (rel.begin() == rel.end() || std::next(rel.begin()) == rel.end())
                continue; // core/pch.h and friends
            const std::string module = rel.begin()->string();
            const auto slash = header.find('/');
            if (slash == std::string::npos)
                continue;
            const std::string target = header.substr(0, slash);
            if (!deps.count(target))
                continue; // a system header such as <torch/...> or <opencv2/...>
            if (!deps.count(module)) {
                problems << QString::fromStdString(rel.string() + ": folder is not a declared module");
                continue;
            }
            if (!closure(deps, module).count(target))
                problems << QString::fromStdString(rel.string() + " includes " + header + ", but " +
                                                   module + " does not depend on " + target);
        }
        QVERIFY2(problems.isEmpty(), qPrintable(problems.join('\n')));
    }

    void core_never_includes_qt()
    {
        QStringList problems;
        const std::regex qt(R"(^(Q[A-Z]\w*|Qt\w*/.*)$)");
        for (const auto& [file, header] : includes_under(psa::test::source_dir() / "core"))
            if (std::regex_match(header, qt))
                problems << QString::fromStdString(file.string() + " includes " + header);
        QVERIFY2(problems.isEmpty(), qPrintable(problems.join('\n')));
    }

    void ui_never_includes_torch()
    {
        QStringList problems;
        for (const auto& [file, header] : includes_under(psa::test::source_dir() / "ui"))
            if (header.rfind("torch/", 0) == 0 || header.rfind("ATen/", 0) == 0 ||
                header.rfind("c10/", 0) == 0)
                problems << QString::fromStdString(file.string() + " includes " + header);
        QVERIFY2(problems.isEmpty(), qPrintable(problems.join('\n')));
    }
};

QTEST_APPLESS_MAIN(TestLayering)
#include "test_layering.moc"
