#include "src/auth/personal_data.h"

#include <gtest/gtest.h>

#include <string>

namespace tokenaudit::auth {
namespace {

TEST(PersonalDataTest, DetectsEmailsAndPaths) {
  const char* personal[] = {
      "alice@example.com",
      "x@y.z",
      "Alice.Smith+tag@mail.example.co.uk",
      "contact: <alice@example.com>",
      "mailto:alice@example.com",
      "written by bob@corp.example.",
      "/home/alice/x.png",
      "/tmp/a",
      "~/photos/me.jpg",
      "./input.png",
      "../secret/notes",
      "C:\\Users\\bob\\a.jpg",
      "c:/Users/bob/a.jpg",
      "D:\\",
      "photos\\IMG_001.jpg",
      "photos/IMG_001.jpg",
      "ComfyUI/input/family_2019.JPEG",
      "https://cdn.example.com/u/alice/avatar.webp",
      "failed to open '/home/alice/x.png': ENOENT",
      "cannot read (photos/IMG_001.jpg).",
      "input\tdata/alice.tar.gz",
  };
  for (const char* s : personal) EXPECT_TRUE(LooksPersonal(s)) << s;
}

TEST(PersonalDataTest, LeavesOrdinaryValuesAlone) {
  const char* ordinary[] = {
      "",
      "portrait_restoration",
      "image_colorization",
      "DDColor人物黑白修复",
      "DDColor_Colorize",
      "ddcolor_paper_tiny",
      "gen_ai.request.model",
      "cuda",
      "image/png",
      "text/plain; charset=utf-8",
      "and/or",
      "1/2.5",
      "v1.2.3",
      "model@v2.1",
      "@mention",
      "user@localhost",
      "a @ b.c",
      "sha256:9b1c0f",
      "2026-11-30T10:00:02.480000Z",
      "comfyui-gateway/eu1",
      "/",
      "out of memory: tried to allocate 2.00 GiB",
      "ratio 3/4 done.",
  };
  for (const char* s : ordinary) EXPECT_FALSE(LooksPersonal(s)) << s;
}

TEST(PersonalDataTest, WordLevelPredicates) {
  EXPECT_TRUE(IsEmailAddress("a@b.cd"));
  EXPECT_FALSE(IsEmailAddress("mailto:a@b.cd"));
  EXPECT_TRUE(ContainsEmailAddress("mailto:a@b.cd"));
  EXPECT_FALSE(IsEmailAddress("a@b"));
  EXPECT_FALSE(IsEmailAddress("a@.b.c"));
  EXPECT_FALSE(IsEmailAddress("a@b..c"));
  EXPECT_FALSE(IsEmailAddress("a@b.c1"));
  EXPECT_TRUE(IsFilePath("/x"));
  EXPECT_FALSE(IsFilePath("/"));
  EXPECT_TRUE(IsFilePath("a\\b"));
  EXPECT_FALSE(IsFilePath("a/b"));
  EXPECT_TRUE(IsFilePath("a/b.c"));
  EXPECT_FALSE(IsFilePath("a/b.c-d"));
  EXPECT_FALSE(IsFilePath("a/b.verylongextension"));
}

}  // namespace
}  // namespace tokenaudit::auth
