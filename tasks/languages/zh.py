"""Simplified Chinese text for qlongbench tasks, written by the project.

Written without spaces (word_separator ""), full-width punctuation, sentences end with "。".
Filler: subject + optional time + place (在……) + verb (with 了) + object (with its own
demonstrative and measure word) + optional clause. Filler avoids the numeral characters (一 ...)
as well as digits, so that nothing in the haystack reads as a number.
"""

from __future__ import annotations

from qlongbench.tasks.languages import FactTemplates, Filler, Language

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


_FACTS = FactTemplates(
    given_names=("伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明", "超",
                 "秀英", "华", "玉兰", "桂英", "志强", "建华", "晓东"),
    family_names=("王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林", "何",
                  "郭", "马", "罗", "梁", "宋", "郑", "谢"),
    name_format="{family}{given}",
    family_name_alone=False,
    cities=("杭州", "苏州", "成都", "西安", "南京", "武汉", "重庆", "天津", "青岛", "大连", "厦门", "昆明", "长沙",
            "沈阳", "哈尔滨", "济南", "郑州", "福州"),
    pets=("旺财", "小黑", "豆豆", "球球", "大黄", "阿福", "毛毛", "乐乐", "花花", "小白", "点点", "贝贝", "多多",
          "欢欢", "来福", "皮皮"),
    city_fact="{name}住在{city}。",
    pet_fact="{name}养了一只名叫{pet}的狗。",
    number_fact="{name}最喜欢的数字是{number}。",
    city_question="{name}住在哪个城市？",
    pet_question="{name}养的狗叫什么名字？",
    number_question="{name}最喜欢的数字是多少？",
    rag_instruction="请根据所给的文档回答问题。只需给出答案，不要输出任何其他内容。",
    question_label="问题：",
    answer_label="答案：",
    facts_instruction="下面的文本中，日常句子之间穿插着若干关于具名人物的关键事实。请仔细阅读。",
    facts_question="请列出上文中关于具名人物的所有关键事实，每行一条。",
    summary_instruction="请简要总结下面的文档。",
    summary_question="现在请为上面的文档写一篇简明的摘要。",
)


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
    filler=Filler(slots=(_SUBJECTS, _PLACES, _VERBS, _OBJECTS), times=_TIMES, clauses=_CLAUSES,
                  time_at=1, joiner="", end="。"),
    fact_templates=_FACTS,
)
