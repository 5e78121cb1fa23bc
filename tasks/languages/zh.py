"""Simplified Chinese text for qlongbench tasks, written by the project.

Written without spaces (word_separator ""), full-width punctuation, sentences end with "。".
Filler: subject + optional time + place (在……) + verb (with 了) + object (with its own
demonstrative and measure word) + optional clause. Filler avoids the numeral characters (一 ...)
as well as digits, so that nothing in the haystack reads as a number.
"""

from __future__ import annotations

import random

from qlongbench.tasks.languages import Language

_SUBJECTS = (
    "年迈的磨坊主", "年轻的水手", "村里的老师", "我的邻居", "面包师的女儿", "疲惫的旅人", "市议会", "我们的祖母",
    "守夜人", "好奇的孩子", "河上的船夫", "博物馆管理员", "安静的学生", "火车站站长", "园丁", "流浪乐手",
    "港口的书记员", "老木匠", "退休的船长", "图书管理员",
)
_TIMES = (
    "清晨", "暴风雨过后", "晚饭前", "在某个下雨的傍晚", "去年秋天", "节日期间", "深夜", "初春时节",
    "忙碌了整天之后", "钟声响起的时候",
)
_PLACES = (
    "在集市旁边", "在学校后面", "在河边", "在狭窄的小巷里", "在港口", "在山坡上", "在谷仓里", "在老橡树下",
    "在铁路旁", "在广场上", "在运河边", "在森林边上",
)
_VERBS = (
    "修好了", "搬走了", "仔细描述了", "卖掉了", "借走了", "量了量", "擦干净了", "拍下了", "仔细打量了",
    "研究了", "找到了", "包好了", "还回了", "画下了", "收起了",
)
_OBJECTS = (
    "那扇木门", "那篮苹果", "那盏破灯笼", "那张旧的海岸地图", "那辆蓝色自行车", "那封从首都寄来的信",
    "厨房里的挂钟", "那双皮靴", "那些渔网", "那罐蜂蜜", "教堂的铜钟", "那盒种子", "那架高梯子",
    "那件厚重的冬衣", "花园的篱笆", "那摞旧报纸", "那把旧雨伞",
)
_CLAUSES = (
    "，大家都没有作声", "，因为天气终于转好了", "，虽然活儿干得很慢", "，狗在树荫下睡着了",
    "，云朵缓缓飘过山谷", "，好让邻居们都能看见", "，那时候别人都还没醒", "，然后回家喝茶去了",
)


def _filler(rng: random.Random) -> str:
    sentence = rng.choice(_SUBJECTS)
    if rng.random() < 0.5:
        sentence += rng.choice(_TIMES)
    sentence += rng.choice(_PLACES) + rng.choice(_VERBS) + rng.choice(_OBJECTS)
    if rng.random() < 0.4:
        sentence += rng.choice(_CLAUSES)
    return sentence + "。"


LANGUAGE = Language(
    code="zh",
    name="Chinese (Simplified)",
    script="Hans",
    word_separator="",
    list_separator="、",
    instruction="下面的文本中隐藏着一些特殊的魔法数字。请务必记住它们。之后我会就这些数字向你提问。",
    needle="{key}的特殊魔法数字之一是：{value}。",
    question="上述文本中提到的{key}的特殊魔法数字是什么？",
    question_multivalue="上述文本中提到的{key}的所有特殊魔法数字分别是什么？",
    question_multiquery="上述文本中提到的{keys}的特殊魔法数字分别是什么？",
    none_rule="如果文本中没有提到{key}的特殊魔法数字，请回答“{none}”。",
    answer_prefix="上述文本中提到的{key}的特殊魔法数字是",
    none_words=("没有", "没有提到", "不存在", "无此数字"),
    keys=(
        "苹果", "河流", "灯笼", "小提琴", "港湾", "草地", "指南针", "猎鹰", "胡椒", "冰川", "窗户", "雷声", "马鞍",
        "果园", "鹅卵石", "蜡烛", "镜子", "船锚", "毯子", "郁金香", "核桃", "烟囱", "丝带", "庄稼", "水壶", "大理石",
        "羽毛", "岛屿", "梯子", "鹦鹉", "采石场", "公鸡", "书包", "茶壶", "雨伞", "天鹅绒", "哨子", "酸奶", "橡果",
        "水桶", "海豚", "柠檬", "樱桃", "狮子", "铃铛", "风筝", "钥匙", "蝴蝶",
    ),
    filler=_filler,
)
